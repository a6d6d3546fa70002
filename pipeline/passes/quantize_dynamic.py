"""Dynamic INT8 quantization with ONNX Runtime's ``quantize_dynamic``.

Weights are quantized ahead of time; activations are quantized at run time
(``DynamicQuantizeLinear``), so no calibration data is needed. It suits MatMul-heavy models such as
transformer encoders, where it often keeps fidelity that static INT8 loses. On CNNs it can be much
*slower* than FP32 (a ResNet-18-shaped model ran 5.6x slower through ``ConvInteger``; see
design.md): restrict it with ``op_types=["MatMul", "Gemm"]`` there, and let the measurements decide.
The output is ONNX Runtime-specific; TensorRT does not take dynamic quantization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic

from pipeline.passes.base import (
    Pass,
    PassContext,
    atomic_output,
    first_line,
    load_model,
    scratch_dir,
    verify_output,
)
from pipeline.passes.quantize_static import (
    check_opset,
    preprocess_field,
    preprocessed,
    refuse_quantized,
    require_quantized_nodes,
)

#: Operators whose presence shows that the output really is quantized.
DYNAMIC_QUANTIZED_OPS = frozenset(
    {
        "DynamicQuantizeLinear",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QAttention",
        "DynamicQuantizeLSTM",
        "QGemm",
        "DequantizeLinear",
    }
)


class QuantizeDynamic(Pass):
    """INT8 weights, activations quantized at run time; no calibration data needed."""

    name: ClassVar[str] = "quantize_dynamic"
    summary: ClassVar[str] = "INT8 weights, activations quantized at run time (ONNX Runtime)"
    provides: ClassVar[str | None] = "int8-dynamic"
    runtimes: ClassVar[tuple[str, ...]] = ("onnxruntime",)
    search_space: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = (
        ("pc", {"per_channel": True}),
        # ConvInteger kernels made a ResNet-18-shaped CNN 5.6x slower than FP32 (design.md)
        ("mm", {"op_types": ["MatMul", "Gemm"]}),
    )

    class Config(Pass.Config):
        weight_type: Literal["qint8", "quint8"] = pydantic.Field(
            "qint8", description="Integer type of the weights: signed (qint8) or unsigned (quint8)."
        )
        per_channel: bool = pydantic.Field(False, description="One scale per output channel of each weight.")
        op_types: list[str] | None = pydantic.Field(
            None,
            description=(
                "Operator types to quantize, e.g. ['MatMul', 'Gemm'] to leave convolutions in FP32; "
                "None quantizes every type ONNX Runtime supports."
            ),
        )

        @pydantic.field_validator("op_types")
        @classmethod
        def _not_empty(cls, value: list[str] | None) -> list[str] | None:
            if value is not None and not value:
                raise ValueError("op_types must name at least one operator type, or be left out")
            return value

        preprocess: bool = preprocess_field()

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        model = load_model(self, model_path)
        refuse_quantized(self, model)
        # Dynamic per-channel weights go to ConvInteger/MatMulInteger zero points, not to
        # DequantizeLinear(axis=...): an opset 11 model quantized per channel loads and agrees with FP32.
        check_opset(self, model, per_channel=False)
        del model

        from onnxruntime.quantization import QuantType, quantize_dynamic

        weight_type = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[self.config.weight_type]
        with scratch_dir(ctx) as scratch, atomic_output(out_path) as tmp:
            source = preprocessed(self, model_path, scratch) if self.config.preprocess else Path(model_path)
            try:
                quantize_dynamic(
                    model_input=str(source),
                    model_output=str(tmp),
                    op_types_to_quantize=self.config.op_types,
                    per_channel=self.config.per_channel,
                    weight_type=weight_type,
                )
            except Exception as exc:
                raise self.fail(f"ONNX Runtime's quantize_dynamic failed: {first_line(exc)}") from exc
            require_quantized_nodes(self, tmp, DYNAMIC_QUANTIZED_OPS)
            verify_output(self, tmp, ctx.calibration)
