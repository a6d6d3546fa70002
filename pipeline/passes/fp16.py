"""FP16 weights and compute, with ONNX Runtime's own converter (``onnxruntime.transformers.float16``).

The converter ships with onnxruntime, so this pass adds no dependency. By default the model keeps
float32 inputs and outputs (a Cast sits behind each input and before each output), so callers and
calibration data need not change. Operators that have no FP16 kernel or lose too much precision
stay in FP32 (ONNX Runtime's ``DEFAULT_OP_BLOCK_LIST`` plus ``op_block_list``).

FP16 is meant for GPUs and NPUs (Jetson, TensorRT, OpenVINO GPU). What it does on a CPU depends on
the CPU and the ONNX Runtime build (many FP16 operators run through casts back to FP32; on the AMD
EPYC host mnist-cnn ran about as fast as FP32): measure, don't assume.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pydantic

from pipeline.passes.base import (
    Pass,
    PassContext,
    atomic_output,
    first_line,
    load_model,
    ort_session,
    probe_feeds,
    run_session,
    save_model,
)


class ConvertFP16(Pass):
    """Convert float32 weights and compute to float16."""

    name: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "FP16 weights and activations (ONNX Runtime's float16 converter)"
    provides: ClassVar[str | None] = "fp16"
    runtimes: ClassVar[tuple[str, ...]] = ("onnxruntime",)

    class Config(Pass.Config):
        keep_io_types: bool = pydantic.Field(
            True, description="Keep the model's inputs and outputs float32 (Casts inserted inside)."
        )
        op_block_list: list[str] = pydantic.Field(
            default_factory=list,
            description=(
                "Operator types to keep in FP32, in addition to ONNX Runtime's default list "
                "(TopK, Range, NonMaxSuppression, ...)."
            ),
        )

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        model = load_model(self, model_path)

        from onnxruntime.transformers import float16

        block_list = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(self.config.op_block_list))
        try:
            converted = float16.convert_float_to_float16(
                model, keep_io_types=self.config.keep_io_types, op_block_list=block_list
            )
        except Exception as exc:
            raise self.fail(f"ONNX Runtime's FP16 converter failed: {first_line(exc)}") from exc
        del model

        with atomic_output(out_path) as tmp:
            save_model(self, converted, tmp)
            del converted
            self._check_outputs(Path(model_path), tmp, ctx)

    def _check_outputs(self, fp32_path: Path, fp16_path: Path, ctx: PassContext) -> None:
        """The FP16 model must load and run, and stay finite where the FP32 model is finite.

        ONNX Runtime's CPU provider computes most FP16 operators in FP32 and removes the casts
        between them, so an activation overflow that a GPU would hit rarely shows here: the on-device
        accuracy measurement remains the real check.
        """
        session = ort_session(self, fp16_path)
        feeds = probe_feeds(session, ctx.calibration)
        if feeds is None:
            return
        fp16_outputs = run_session(self, session, feeds)
        if all(_finite(out) for out in fp16_outputs):
            return
        reference = ort_session(self, fp32_path)
        fp32_feeds = {
            arg.name: feeds[arg.name].astype(np.float32) if arg.type == "tensor(float)" else feeds[arg.name]
            for arg in reference.get_inputs()
        }
        fp32_outputs = run_session(self, reference, fp32_feeds)
        if all(_finite(out) for out in fp32_outputs):
            raise self.fail(
                "FP16 outputs overflow to inf/NaN where FP32 stays finite; keep the overflowing "
                "operators in FP32 with op_block_list"
            )


def _finite(array: np.ndarray) -> bool:
    return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())
