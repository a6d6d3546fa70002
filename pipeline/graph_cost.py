"""Work and bytes per inference of an ONNX graph: the one counter the report and the roofline read.

:func:`graph_cost` counts, for one query of ``batch`` samples:

- ``flops`` and ``macs`` by the rules of :mod:`pipeline.op_flops` (2 FLOPs per multiply-add; a stated
  small cost for element-wise, normalisation, softmax and pooling ops). The count is *dense*: a dense
  kernel multiplies a zero weight like any other, so pruned-to-zero weights cost the same FLOPs;
  only a graph whose tensors really shrank (structured pruning) counts fewer.
- ``weight_bytes`` by storage type: every initializer and ``Constant`` tensor at its stored size, so
  an INT8 weight behind a DequantizeLinear counts 1 byte per value, its float scale 4.
- ``activation_bytes``: each intermediate tensor that depends on a graph input, written once. Outputs
  of Reshape, Flatten, Squeeze, Unsqueeze and Identity are not counted again (runtimes alias them).
- ``zero_weight_fraction``: the share of weight values (tensors of rank 2 or more) that are zero, a
  quantized weight counted as zero where it equals its zero point. Reported, never used to discount
  FLOPs.

Nodes whose inputs are all constants (a DequantizeLinear of a weight, any chain computed from
constants only) cost nothing per query in the runtimes this project targets (constant-folded before the
first inference, or fused into the integer kernel): they are counted in ``folded_nodes`` only. Ops
without a rule, or whose shapes shape inference could not work out, are listed in ``uncounted_ops`` and
make the figure a lower bound; ``shapes_known`` says whether it is exact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.onnx_shapes import infer_tensor_types
from pipeline.op_flops import has_rule, node_work

if TYPE_CHECKING:
    import onnx

#: Ops whose output is a view of their input in every runtime this project targets.
ALIASING_OPS = frozenset(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"])

#: ONNX TensorProto data type -> (name, bits per value).
DTYPES: dict[int, tuple[str, int]] = {
    1: ("float32", 32),
    2: ("uint8", 8),
    3: ("int8", 8),
    4: ("uint16", 16),
    5: ("int16", 16),
    6: ("int32", 32),
    7: ("int64", 64),
    9: ("bool", 8),
    10: ("float16", 16),
    11: ("float64", 64),
    12: ("uint32", 32),
    13: ("uint64", 64),
    14: ("complex64", 64),
    15: ("complex128", 128),
    16: ("bfloat16", 16),
    17: ("float8e4m3fn", 8),
    18: ("float8e4m3fnuz", 8),
    19: ("float8e5m2", 8),
    20: ("float8e5m2fnuz", 8),
    21: ("uint4", 4),
    22: ("int4", 4),
    23: ("float4e2m1", 4),
}
_FLOAT_TYPES = (1, 10, 11, 16)
_QUANTIZED_TYPES = (2, 3, 21, 22)


@dataclass(frozen=True)
class GraphCost:
    """Work and bytes of one query of ``batch`` samples (see the module docstring for the rules)."""

    batch: int
    flops: int
    """FLOPs per query, dense (2 per multiply-add, plus the element-wise costs)."""
    macs: int
    """Multiply-adds per query of Conv, ConvTranspose, Gemm and MatMul (and their integer forms)."""
    weight_bytes: dict[str, int]
    """Bytes of constant tensors by storage type, e.g. ``{"int8": 1_000_000, "float32": 4_096}``."""
    activation_bytes: int
    """Bytes of the intermediate tensors written once per query (graph inputs excluded)."""
    zero_weight_fraction: float
    """Share of weight values (rank >= 2) that are zero; 0.0 when the graph has none."""
    flops_by_op: dict[str, int] = field(default_factory=dict)
    """FLOPs per query by op type."""
    counted_ops: dict[str, int] = field(default_factory=dict)
    """op type -> nodes counted (data-movement ops count, at 0 FLOPs)."""
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    """op type -> nodes not counted: no rule for the op, or an unknown shape."""
    folded_nodes: int = 0
    """Nodes computed from constants only, folded before the first query (0 FLOPs)."""
    shapes_known: bool = True
    """True when every tensor the count needed had a known shape and every op had a rule."""
    unknown_shapes: tuple[str, ...] = ()
    """Tensors whose shape shape inference could not work out."""

    @property
    def total_weight_bytes(self) -> int:
        return sum(self.weight_bytes.values())

    @property
    def flops_per_sample(self) -> float:
        return self.flops / self.batch

    def describe(self) -> str:
        """One line for a report: the figure, its unit and how it was counted."""
        text = (
            f"{self.flops / 1e6:,.1f} MFLOPs per query of {self.batch} (dense count: 2 per multiply-add in "
            f"Conv/Gemm/MatMul, element-wise ops at a stated cost each), {self.total_weight_bytes / 1e6:,.2f} MB "
            f"of weights, {self.activation_bytes / 1e6:,.2f} MB of activations written"
        )
        if self.uncounted_ops:
            text += "; not counted: " + ", ".join(f"{op} x{n}" for op, n in sorted(self.uncounted_ops.items()))
        if not self.shapes_known:
            text += "; some shapes unknown, so the figures are lower bounds"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "flops": self.flops,
            "macs": self.macs,
            "flops_by_op": dict(self.flops_by_op),
            "weight_bytes": dict(self.weight_bytes),
            "activation_bytes": self.activation_bytes,
            "zero_weight_fraction": self.zero_weight_fraction,
            "counted_ops": dict(self.counted_ops),
            "uncounted_ops": dict(self.uncounted_ops),
            "folded_nodes": self.folded_nodes,
            "shapes_known": self.shapes_known,
            "unknown_shapes": list(self.unknown_shapes),
        }


def graph_cost(model_or_path: onnx.ModelProto | Path | str, batch: int = 1) -> GraphCost:
    """Count the work and bytes of one query of ``batch`` samples through the model's main graph.

    ``model_or_path`` is a loaded model (left unchanged) or a path to an ``.onnx`` file. A path that
    is not a readable ONNX model, or a batch the model's fixed input shapes cannot take, is a ValueError.
    Subgraphs (If, Loop, Scan bodies) are not entered: those nodes are listed as uncounted.
    """
    model = _load(model_or_path)
    types = infer_tensor_types(model, batch)
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    dynamic = {value.name for value in graph.input if value.name not in constants}

    flops_by_op: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    uncounted: Counter[str] = Counter()
    unknown: list[str] = []
    macs = activation_bytes = folded = 0
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type == "Constant" or (inputs and not any(name in dynamic for name in inputs)):
            constants.update(node.output)
            folded += node.op_type != "Constant"
            continue
        dynamic.update(name for name in node.output if name)
        work = node_work(node, types.get) if has_rule(node.op_type) else None
        if work is None:
            uncounted[node.op_type] += 1
        else:
            counted[node.op_type] += 1
            flops_by_op[node.op_type] += work.flops
            macs += work.macs
        for name in node.output:
            if not name:
                continue
            found = types.get(name)
            size = None if found is None else found.size()
            if size is None:
                unknown.append(name)
            elif node.op_type not in ALIASING_OPS:
                activation_bytes += _bytes(found.elem_type, size)  # type: ignore[union-attr]

    weight_bytes, zero_fraction = _weights(model)
    return GraphCost(
        batch=batch,
        flops=sum(flops_by_op.values()),
        macs=macs,
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        zero_weight_fraction=zero_fraction,
        flops_by_op=dict(flops_by_op),
        counted_ops=dict(counted),
        uncounted_ops=dict(uncounted),
        folded_nodes=folded,
        shapes_known=not unknown and not uncounted,
        unknown_shapes=tuple(unknown),
    )


def _load(model_or_path: onnx.ModelProto | Path | str) -> onnx.ModelProto:
    import onnx

    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    path = Path(model_or_path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file: give the path to an .onnx model")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, missing external data, ...
        raise ValueError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from exc


def _bytes(elem_type: int, count: int) -> int:
    bits = DTYPES.get(elem_type, ("", 0))[1]
    return (count * bits + 7) // 8


def _constant_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            tensors.extend(attr.t for attr in node.attribute if attr.name == "value" and attr.HasField("t"))
    return tensors


def _weights(model: onnx.ModelProto) -> tuple[dict[str, int], float]:
    """Bytes by storage type of every constant tensor, and the zero share of weights (rank >= 2)."""
    zero_points = _zero_points(model)
    by_type: Counter[str] = Counter()
    values = zeros = 0
    for tensor in _constant_tensors(model):
        count = int(np.prod(tensor.dims)) if tensor.dims else 1
        name = DTYPES.get(tensor.data_type, (f"onnx-type-{tensor.data_type}", 0))[0]
        by_type[name] += _bytes(tensor.data_type, count)
        if len(tensor.dims) < 2 or count == 0:
            continue
        if tensor.data_type in _FLOAT_TYPES:
            found = _count_zeros(tensor, np.zeros(()), 0)
        elif tensor.data_type in _QUANTIZED_TYPES and tensor.name in zero_points:
            found = _count_zeros(tensor, *zero_points[tensor.name])
        else:
            continue  # integer indices, shapes: not weights
        if found is not None:
            values += count
            zeros += found
    return dict(by_type), (zeros / values if values else 0.0)


def _zero_points(model: onnx.ModelProto) -> dict[str, tuple[np.ndarray, int]]:
    """Integer weight initializer -> (its DequantizeLinear's zero point, that node's axis)."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    found: dict[str, tuple[np.ndarray, int]] = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
            continue
        axis = next((int(a.i) for a in node.attribute if a.name == "axis"), 1)
        zero_point = np.zeros(1)
        if len(node.input) > 2 and node.input[2] in initializers:
            try:
                zero_point = numpy_helper.to_array(initializers[node.input[2]]).astype(np.int64)
            except Exception:
                continue
        found[node.input[0]] = (zero_point, axis)
    return found


def _count_zeros(tensor: onnx.TensorProto, zero_point: np.ndarray, axis: int) -> int | None:
    """Values of ``tensor`` equal to its zero point (a scalar, or one per slice along ``axis``)."""
    from onnx import numpy_helper

    try:
        values = numpy_helper.to_array(tensor)
    except Exception:  # external data not loaded, a type numpy cannot hold
        return None
    if zero_point.size > 1:  # one zero point per slice along the DequantizeLinear's axis
        shape = [1] * values.ndim
        shape[axis % values.ndim] = zero_point.size
        zero_point = zero_point.reshape(shape)
    else:
        zero_point = zero_point.reshape(())
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    return int(np.count_nonzero(values == zero_point))
