"""Raise a model's default ONNX opset with ONNX's version converter.

Several later passes need a recent opset: ONNX Runtime's per-channel INT8 writes
``DequantizeLinear(axis=...)``, which exists from opset 13, so an opset 11 model (such as the
PyTorch export in ``eval/mnist-cnn``) quantized per channel does not load. Run this pass first.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import pydantic

from pipeline.passes.base import (
    Pass,
    PassContext,
    atomic_output,
    default_opset,
    first_line,
    load_model,
    save_model,
    verify_output,
)


class OpsetUpgrade(Pass):
    """Convert the model to ``target_opset`` when it is below; copy it unchanged when it is not."""

    name: ClassVar[str] = "opset_upgrade"
    summary: ClassVar[str] = "raise the default ONNX opset (per-channel INT8 needs 13+)"

    class Config(Pass.Config):
        target_opset: int = pydantic.Field(
            17,
            ge=7,
            description=(
                "Default-domain opset to convert to. Models at or above it are copied unchanged. "
                "13 or later is needed for per-channel INT8; 17 is widely supported by ONNX Runtime, "
                "TensorRT 8.6+ and OpenVINO."
            ),
        )

        @pydantic.field_validator("target_opset")
        @classmethod
        def _known_to_onnx(cls, value: int) -> int:
            import onnx

            newest = onnx.defs.onnx_opset_version()
            if value > newest:
                raise ValueError(f"target_opset {value} is newer than this onnx package knows ({newest})")
            return value

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        import onnx
        import onnx.version_converter

        model = load_model(self, model_path)
        current = default_opset(model)
        target = self.config.target_opset
        if current is None:
            raise self.fail(f"{model_path} imports no default ONNX opset; there is nothing to upgrade")

        with atomic_output(out_path) as tmp:
            if current >= target:
                shutil.copyfile(model_path, tmp)
                return
            try:
                converted = onnx.version_converter.convert_version(model, target)
            except Exception as exc:
                raise self.fail(
                    f"ONNX's version converter cannot take the model from opset {current} to {target}: "
                    f"{first_line(exc)}"
                ) from exc
            converted.ir_version = max(
                converted.ir_version,
                onnx.helper.find_min_ir_version_for(list(converted.opset_import), ignore_unknown=True),
            )
            try:
                onnx.checker.check_model(converted)
                converted = onnx.shape_inference.infer_shapes(converted)
            except Exception as exc:
                raise self.fail(
                    f"the model converted to opset {target} fails ONNX's checks: {first_line(exc)}"
                ) from exc
            save_model(self, converted, tmp)
            verify_output(self, tmp, ctx.calibration)
