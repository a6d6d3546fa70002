"""2:4 semi-structured sparsity: in every 4 consecutive weights along the reduction axis, 2 become zero.

This is the pattern NVIDIA's sparse tensor cores run (Ampere and later: Jetson Orin, A100, L4, H100)
and the one NVIDIA's ASP library prunes to: for a Conv weight ``[C_out, C_in/group, kH, kW]`` the
groups of 4 run along ``C_in`` for each output channel and kernel position; for a Gemm or MatMul
weight along ``K``, the dimension the product sums over. In each group the two values of smallest
magnitude are set to 0 (exactly half the eligible weights). A weight whose reduction dimension is not
a multiple of 4 is skipped and named in the log line, as are weights that are not float
initializers (behind a DequantizeLinear, computed at run time) and tensors below ``min_params``.

What this buys: only TensorRT, on a GPU of compute capability 8.0 or newer, with the engine built
with sparsity enabled (``trtexec --sparsity=enable``, ``BuilderFlag.SPARSE_WEIGHTS``), runs these
layers on sparse kernels, and only where its timing finds them faster. Every other runtime multiplies
the zeros densely: no speed-up, a file that compresses better. Without fine-tuning, 2:4 pruning of a
trained model costs accuracy; ASP's recipe re-trains with the mask fixed. See
:mod:`pipeline.passes.sparsity` for the sentence reports print per variant.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pydantic

from pipeline.passes.base import FLOAT_TENSOR_TYPES, Pass, PassContext, atomic_output, load_model, save_model

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

#: Layer types whose weights TensorRT can run 2:4-sparse (convolutions and matrix products).
SPARSE_OPS = ("Conv", "Gemm", "MatMul")
GROUP = 4
KEEP = 2


class Prune2to4(Pass):
    """Zero the 2 smallest-|w| of every 4 consecutive weights along the reduction axis (2:4)."""

    name: ClassVar[str] = "prune_2to4"
    summary: ClassVar[str] = (
        "2:4 sparse weights: faster only in TensorRT with --sparsity=enable on Ampere+ GPUs (Orin, A100, L4, H100)"
    )
    sparsity: ClassVar[str | None] = "2:4"
    prune_name: ClassVar[str | None] = "2to4"
    provides: ClassVar[str | None] = None

    class Config(Pass.Config):
        op_types: list[str] = pydantic.Field(
            default_factory=lambda: list(SPARSE_OPS),
            min_length=1,
            description=f"Layer types whose weights are made 2:4 sparse, among {', '.join(SPARSE_OPS)}.",
        )
        min_params: int = pydantic.Field(
            1024, ge=1, description="Leave weights with fewer values than this dense (sparse kernels gain nothing)."
        )

        @pydantic.field_validator("op_types")
        @classmethod
        def _known_op_types(cls, value: list[str]) -> list[str]:
            unknown = sorted(set(value) - set(SPARSE_OPS))
            if unknown:
                raise ValueError(f"2:4 sparsity does not apply to {', '.join(unknown)}: choose among {SPARSE_OPS}")
            return value

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        from onnx import numpy_helper

        model = load_model(self, model_path)
        axes, skipped = reduction_axes(model, self.config.op_types, self.config.min_params)
        if not axes:
            why = "; ".join(skipped) or f"the graph has no {', '.join(self.config.op_types)} layer"
            raise self.fail(f"no weight can be made 2:4 sparse ({why})")
        total = zeroed = 0
        for init in model.graph.initializer:
            if init.name in axes:
                pruned, count = prune_2to4_tensor(numpy_helper.to_array(init), axes[init.name])
                init.CopyFrom(numpy_helper.from_array(pruned, init.name))
                total += pruned.size
                zeroed += count
        logger.info(
            "%s: %d weight tensors 2:4 sparse, %d of %d values zero; skipped: %s. The speed-up needs TensorRT "
            "with --sparsity=enable on compute capability >= 8.0; other runtimes run these zeros densely",
            self.name,
            len(axes),
            zeroed,
            total,
            "; ".join(skipped) or "none",
        )
        with atomic_output(out_path) as tmp:
            save_model(self, model, tmp)


def reduction_axes(model: onnx.ModelProto, op_types: list[str], min_params: int) -> tuple[dict[str, int], list[str]]:
    """Initializer name -> the axis its layer sums over, for weights that can be made 2:4 sparse, and one
    line per weight left dense saying why."""
    initializers = {init.name: init for init in model.graph.initializer}
    overridable = {value.name for value in model.graph.input}
    wanted = set(op_types)
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    found: dict[str, set[int]] = {}
    skipped: list[str] = []
    for node in model.graph.node:
        if node.op_type not in wanted:
            continue
        for position, axis in _weight_positions(node):
            if position >= len(node.input) or not node.input[position]:
                continue
            name = node.input[position]
            init = initializers.get(name)
            if init is None or init.data_type not in FLOAT_TENSOR_TYPES or name in overridable:
                if position == 1 and producers.get(name) == "DequantizeLinear":
                    skipped.append(
                        f"{name!r} of {node.op_type} is dequantized at run time: apply 2:4 before quantizing"
                    )
                elif position == 1:  # the usual weight slot: worth saying why it stays dense
                    skipped.append(f"{name!r} of {node.op_type} is not a float initializer")
                continue
            dims = [int(d) for d in init.dims]
            if len(dims) < 2:
                continue
            axis %= len(dims)
            size = int(np.prod(dims))
            if size < min_params:
                skipped.append(f"{name!r} has {size} values, fewer than min_params={min_params}")
            elif dims[axis] % GROUP:
                skipped.append(f"{name!r}: its reduction dimension ({dims[axis]}) is not a multiple of {GROUP}")
            else:
                found.setdefault(name, set()).add(axis)
    axes: dict[str, int] = {}
    for name, candidates in found.items():
        if len(candidates) == 1:
            axes[name] = candidates.pop()
        else:
            skipped.append(f"{name!r} is shared by layers that sum over different axes")
    return axes, skipped


def _weight_positions(node: onnx.NodeProto) -> list[tuple[int, int]]:
    """(input position, reduction axis) of each input of ``node`` that may be a weight."""
    attrs = {a.name: int(a.i) for a in node.attribute if a.type == 2}  # INT attributes
    if node.op_type == "Conv":
        return [(1, 1)]
    if node.op_type == "Gemm":
        return [(1, 1 if attrs.get("transB", 0) else 0), (0, 0 if attrs.get("transA", 0) else 1)]
    return [(1, -2), (0, -1)]  # MatMul: B [..., K, N], A [..., M, K]


def prune_2to4_tensor(weights: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """A copy of ``weights`` with the 2 smallest-|w| of every 4 consecutive values along ``axis`` zero,
    and how many values are zero afterwards that were not before. ``weights.shape[axis]`` must be a
    multiple of 4 (ValueError otherwise). Ties keep the earlier value."""
    if weights.shape[axis] % GROUP:
        raise ValueError(f"dimension {axis} has {weights.shape[axis]} values, not a multiple of {GROUP}")
    moved = np.moveaxis(np.array(weights, copy=True), axis, -1)
    groups = moved.reshape(-1, GROUP)
    order = np.argsort(-np.abs(groups), axis=1, kind="stable")
    drop = order[:, KEEP:]
    before = int(np.count_nonzero(groups == 0))
    np.put_along_axis(groups, drop, 0, axis=1)
    after = int(np.count_nonzero(groups == 0))
    return np.moveaxis(groups.reshape(moved.shape), -1, axis), after - before


def is_2to4(weights: np.ndarray, axis: int) -> bool:
    """True when every 4 consecutive values along ``axis`` hold at most 2 non-zeros."""
    if weights.shape[axis] % GROUP:
        return False
    groups = np.moveaxis(weights, axis, -1).reshape(-1, GROUP)
    return bool((np.count_nonzero(groups, axis=1) <= KEEP).all())
