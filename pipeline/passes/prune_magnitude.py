"""Unstructured magnitude pruning: zero the smallest-magnitude weights of each eligible tensor.

A weight initializer is eligible when it feeds a weight input of an operator in ``op_types``
(Conv/ConvTranspose input 1; Gemm/MatMul input 0 or 1; any input of another listed type), is a
float tensor of rank 2 or more (so biases, which are 1-D, are never touched), and holds at least
``min_params`` values. In each eligible tensor the ``round(sparsity * size)`` values of smallest
absolute value become 0 (layer-wise uniform sparsity; already-zero values count). Weights stored
as ``Constant`` nodes or behind ``DequantizeLinear`` are not pruned.

What this does *not* buy: unstructured zeros do not make ONNX Runtime on CPU (or OpenVINO CPU)
any faster; the dense kernels multiply the zeros like any other value. They only make the file
compress better (smaller downloads to devices) and show how much accuracy the model keeps at a
given sparsity. Speed needs either 2:4 semi-structured sparsity on Ampere-or-later GPUs through
TensorRT's sparse kernels (Jetson Orin; :mod:`pipeline.passes.prune_2to4`) or structured pruning
(whole channels removed; :mod:`pipeline.passes.prune_channels`). Pruning without fine-tuning also
costs accuracy quickly beyond about 50% sparsity.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pydantic

from pipeline.passes.base import (
    FLOAT_TENSOR_TYPES,
    Pass,
    PassContext,
    atomic_output,
    load_model,
    save_model,
    verify_output,
)

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

#: Which inputs of an operator carry weights (others are activations or biases).
WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1,),
    "ConvTranspose": (1,),
    "Gemm": (0, 1),
    "MatMul": (0, 1),
}


class PruneMagnitude(Pass):
    """Zero the smallest-|w| fraction of each eligible weight tensor (unstructured)."""

    name: ClassVar[str] = "prune_magnitude"
    summary: ClassVar[str] = "zero the smallest weights (unstructured: dense kernels run no faster)"
    sparsity: ClassVar[str | None] = "unstructured"
    prune_name: ClassVar[str | None] = "magnitude"
    prune_amount: ClassVar[str | None] = "sparsity"

    class Config(Pass.Config):
        sparsity: float = pydantic.Field(
            0.5, gt=0.0, lt=1.0, description="Fraction of each eligible tensor's values set to zero."
        )
        op_types: list[str] = pydantic.Field(
            default_factory=lambda: ["Conv", "Gemm", "MatMul"],
            min_length=1,
            description="Operator types whose weight inputs are pruned.",
        )
        min_params: int = pydantic.Field(
            1024, ge=1, description="Leave tensors with fewer values than this alone (they cost little)."
        )

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        from onnx import numpy_helper

        model = load_model(self, model_path)
        names = eligible_initializers(model, self.config.op_types, self.config.min_params)
        if not names:
            raise self.fail(
                f"no weight tensor to prune: none of {', '.join(self.config.op_types)} has a float "
                f"weight initializer of rank >= 2 with at least {self.config.min_params} values"
            )

        total = zeroed = 0
        for init in model.graph.initializer:
            if init.name not in names:
                continue
            weights = numpy_helper.to_array(init)
            pruned, count = prune_tensor(weights, self.config.sparsity)
            init.CopyFrom(numpy_helper.from_array(pruned, init.name))
            total += weights.size
            zeroed += count
        logger.info(
            "%s: %d tensors, %d of %d values zero (%.1f%%)",
            self.name,
            len(names),
            zeroed,
            total,
            100.0 * zeroed / total,
        )

        with atomic_output(out_path) as tmp:
            save_model(self, model, tmp)
            del model
            verify_output(self, tmp, ctx.calibration)


def eligible_initializers(model: onnx.ModelProto, op_types: list[str], min_params: int) -> set[str]:
    """Names of the initializers this pass may prune (see the module docstring)."""
    initializers = {init.name: init for init in model.graph.initializer}
    wanted = set(op_types)
    names: set[str] = set()
    for node in model.graph.node:
        if node.op_type not in wanted:
            continue
        positions = WEIGHT_INPUTS.get(node.op_type, range(len(node.input)))
        for position in positions:
            if position >= len(node.input):
                continue
            init = initializers.get(node.input[position])
            if init is None or init.data_type not in FLOAT_TENSOR_TYPES:
                continue
            size = int(np.prod(init.dims)) if init.dims else 1
            if len(init.dims) >= 2 and size >= min_params:
                names.add(init.name)
    return names


def prune_tensor(weights: np.ndarray, sparsity: float) -> tuple[np.ndarray, int]:
    """A copy of ``weights`` whose ``round(sparsity * size)`` smallest-|w| values are zero."""
    count = int(round(sparsity * weights.size))
    pruned = np.array(weights, copy=True)
    if count == 0:
        return pruned, 0
    flat = pruned.reshape(-1)
    smallest = np.argpartition(np.abs(flat), count - 1)[:count]
    flat[smallest] = 0
    return pruned, count
