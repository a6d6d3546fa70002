"""Recognise a transformer in an ONNX graph, so NNCF can be told ``model_type=TRANSFORMER``.

It matters: on a 6-layer sentence encoder, ``nncf.quantize`` with its plain defaults kept cosine
0.11 to the FP32 outputs and with ``model_type=TRANSFORMER`` 0.997 (design.md). A graph counts as
a transformer when it holds an attention block or a layer norm:

- attention: ``MatMul -> [Div|Mul|Add|...] -> Softmax -> [Cast|Dropout|...] -> MatMul``, the
  scores product, its scaling and mask, and the product with the values;
- a fused layer norm (``LayerNormalization``, ONNX Runtime's ``SkipLayerNormalization`` and the
  simplified/RMS forms), or one written out: ``ReduceMean -> Sub -> Pow -> ReduceMean -> [Add] ->
  Sqrt`` (RMS norm: the same without the first ``ReduceMean``/``Sub``).

A CNN's classifier head (``Gemm -> Softmax``) has no ``MatMul`` after its Softmax and a global
average pool (``ReduceMean``) no ``Pow`` before it, so neither is mistaken for these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

FUSED_NORMS = frozenset(
    {
        "LayerNormalization",
        "SimplifiedLayerNormalization",
        "SkipLayerNormalization",
        "SkipSimplifiedLayerNormalization",
        "RMSNormalization",
    }
)
#: ops between the scores MatMul and the Softmax (scale, mask, reshapes)
BEFORE_SOFTMAX = frozenset(
    {"Div", "Mul", "Add", "Sub", "Where", "Cast", "Reshape", "Transpose", "Unsqueeze", "Squeeze"}
)
#: ops between the Softmax and the MatMul with the values
AFTER_SOFTMAX = frozenset({"Cast", "Dropout", "Identity", "Reshape", "Transpose"})
MAX_HOPS = 4


@dataclass(frozen=True)
class TransformerEvidence:
    """Names of the attention Softmax nodes and layer-norm nodes found."""

    attention: tuple[str, ...] = field(default=())
    layer_norms: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.attention or self.layer_norms)

    def describe(self) -> str:
        """ "2 attention blocks (MatMul->Softmax->MatMul), 3 layer norms", or "none found"."""
        parts = []
        if self.attention:
            parts.append(f"{len(self.attention)} attention block(s) (MatMul->Softmax->MatMul)")
        if self.layer_norms:
            parts.append(f"{len(self.layer_norms)} layer norm(s)")
        return ", ".join(parts) or "no attention block or layer norm found"


def transformer_evidence(model: onnx.ModelProto) -> TransformerEvidence:
    """The attention blocks and layer norms in ``model``'s main graph."""
    graph = _Graph(model.graph.node)
    attention = [
        _name(node, i)
        for i, node in enumerate(graph.nodes)
        if node.op_type == "Softmax" and graph.reaches_upstream(node, "MatMul", BEFORE_SOFTMAX)
        and graph.reaches_downstream(node, "MatMul", AFTER_SOFTMAX)
    ]  # fmt: skip
    norms = [_name(node, i) for i, node in enumerate(graph.nodes) if node.op_type in FUSED_NORMS]
    norms += [
        _name(node, i) for i, node in enumerate(graph.nodes) if node.op_type == "Sqrt" and graph.is_norm_sqrt(node)
    ]
    return TransformerEvidence(tuple(attention), tuple(norms))


class _Graph:
    """Producer and consumer maps over one ONNX graph's nodes."""

    def __init__(self, nodes: Iterable[onnx.NodeProto]) -> None:
        self.nodes = list(nodes)
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.nodes:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                self.consumers[name].append(node)

    def inputs_of(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        return [self.producer[name] for name in node.input if name in self.producer]

    def outputs_of(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        return [c for out in node.output for c in self.consumers.get(out, [])]

    def reaches_upstream(self, start: onnx.NodeProto, target: str, through: frozenset[str]) -> bool:
        return self._reaches(start, target, through, self.inputs_of)

    def reaches_downstream(self, start: onnx.NodeProto, target: str, through: frozenset[str]) -> bool:
        return self._reaches(start, target, through, self.outputs_of)

    def _reaches(self, start, target, through, step) -> bool:  # type: ignore[no-untyped-def]
        frontier = step(start)
        for _ in range(MAX_HOPS):
            if any(n.op_type == target for n in frontier):
                return True
            frontier = [m for n in frontier if n.op_type in through for m in step(n)]
            if not frontier:
                return False
        return False

    def is_norm_sqrt(self, sqrt: onnx.NodeProto) -> bool:
        """Sqrt <- [Add eps] <- ReduceMean <- Pow(x, 2) or Mul(x, x): a variance or mean square."""
        feeding = self.inputs_of(sqrt)
        feeding += [m for n in feeding if n.op_type == "Add" for m in self.inputs_of(n)]
        for mean in (n for n in feeding if n.op_type == "ReduceMean"):
            for square in self.inputs_of(mean):
                if square.op_type == "Pow" or (
                    square.op_type == "Mul" and len(square.input) == 2 and square.input[0] == square.input[1]
                ):
                    return True
        return False


def _name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}#{index}"
