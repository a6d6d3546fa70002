"""Static (calibrated) INT8 quantization with ONNX Runtime's ``quantize_static``.

Activation ranges come from running the calibration data (``PassContext.calibration``) through the
model. The default output is a QDQ model (QuantizeLinear/DequantizeLinear pairs around each
quantized operator), which ONNX Runtime, TensorRT 10+ (explicit quantization) and OpenVINO all read.

Two traps are handled here rather than left to the user:

- Per-channel weights produce ``DequantizeLinear(axis=...)``, which needs opset 13; ONNX Runtime
  writes it into an opset 11 model anyway and the result does not load. Below opset 13 this pass
  refuses with a PassError that says to run ``opset_upgrade`` first.
- An output that ONNX Runtime cannot load or run is a PassError, never a silent success.

INT8 does not always help: on some models it loses fidelity or runs slower than FP32 (see
design.md, "Pitfalls already met"). The pipeline measures both; this pass only builds the variant.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pydantic

from pipeline.passes.base import (
    Pass,
    PassContext,
    atomic_output,
    default_opset,
    first_line,
    load_model,
    scratch_dir,
    verify_output,
)
from pipeline.passes.calibration_feeds import calibration_batches, make_reader
from pipeline.passes.qdq_mixed import search as mixed_search

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

#: Lowest default opset for per-channel quantization (``DequantizeLinear`` gained ``axis`` in 13).
PER_CHANNEL_MIN_OPSET = 13
#: Lowest default opset for QuantizeLinear/DequantizeLinear and the integer operators.
INT8_MIN_OPSET = 10
#: Operators whose presence shows that the output really is quantized.
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd"})


def preprocess_field() -> Any:
    """The ``preprocess`` config field of both quantization passes; :func:`preprocessed` does the work."""
    return pydantic.Field(
        True,
        description=(
            "Run ONNX Runtime's quant_pre_process (shape inference, graph optimisation) first; "
            "the pass falls back to the unprocessed model if pre-processing fails."
        ),
    )


class QuantizeStatic(Pass):
    """Calibrated INT8 quantization (weights and activations) with ONNX Runtime."""

    name: ClassVar[str] = "quantize_static"
    summary: ClassVar[str] = "calibrated INT8, QDQ (ONNX Runtime's quantize_static; TensorRT reads QDQ too)"
    provides: ClassVar[str | None] = "int8-static"
    runtimes: ClassVar[tuple[str, ...]] = ("onnxruntime", "tensorrt")
    needs_calibration: ClassVar[bool] = True
    search_space: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = (
        ("pt", {"per_channel": False}),
        ("entropy", {"calibrate_method": "entropy"}),
        ("percentile", {"calibrate_method": "percentile"}),
        ("sym", {"activation_symmetric": True}),
        # leave Softmax, Add, LayerNorm and friends in float: on transformers most of the loss is there
        ("convmm", {"op_types": ["Conv", "MatMul", "Gemm"]}),
    )

    class Config(Pass.Config):
        per_channel: bool = pydantic.Field(
            True, description="One scale per output channel of each weight (needs opset 13 or later)."
        )
        calibrate_method: Literal["minmax", "entropy", "percentile"] = pydantic.Field(
            "minmax", description="How activation ranges are chosen from the calibration runs."
        )
        activation_type: Literal["qint8", "quint8"] = pydantic.Field(
            "qint8", description="Integer type of activations: signed (qint8) or unsigned (quint8)."
        )
        weight_type: Literal["qint8", "quint8"] = pydantic.Field(
            "qint8", description="Integer type of weights; qint8 is the one every runtime supports."
        )
        quant_format: Literal["qdq", "qoperator"] = pydantic.Field(
            "qdq",
            description=(
                "qdq: QuantizeLinear/DequantizeLinear around float operators (read by ONNX Runtime, "
                "TensorRT and OpenVINO); qoperator: QLinearConv-style operators (ONNX Runtime only)."
            ),
        )
        activation_symmetric: bool = pydantic.Field(
            False,
            description=(
                "Symmetric activation ranges (zero point 0). TensorRT accepts only symmetric INT8, "
                "so set this for TensorRT targets."
            ),
        )
        reduce_range: bool = pydantic.Field(
            True,
            description=(
                "Quantize weights to 7 bits. x86 CPUs without VNNI (AVX2 only) multiply u8 by s8 in "
                "int16 pairs that saturate with full 8-bit weights: the demo CNN lost 16 pp top-1 that "
                "way on an AVX2-only EPYC (ONNX Runtime 1.32), and none with 7-bit weights. VNNI and "
                "ARM kernels do not saturate; set false there for the last bit of precision."
            ),
        )
        max_calibration_samples: int = pydantic.Field(
            200, ge=1, description="Use at most this many calibration samples (the first ones)."
        )
        calibration_batch_size: int = pydantic.Field(
            1,
            ge=1,
            description=(
                "Samples per calibration run when the model's batch dimension is dynamic (a fixed "
                "batch dimension sets it); a last partial batch is left out."
            ),
        )
        op_types: list[str] | None = pydantic.Field(
            None,
            description=(
                "Operator types to quantize, e.g. ['Conv', 'MatMul', 'Gemm'] to leave Softmax, Add and the "
                "normalisations in float; None quantizes every type ONNX Runtime supports."
            ),
        )
        exclude_nodes: list[str] = pydantic.Field(
            default_factory=list,
            description="Node names kept in float (mixed precision); what the accuracy-aware search excludes.",
        )
        accuracy_control: Literal["auto", "off"] = pydantic.Field(
            "auto",
            description=(
                "auto: with an accuracy budget and evaluation data, keep in float the nodes whose "
                "quantization costs most until the host-side loss is within the budget (mixed precision)."
            ),
        )
        preprocess: bool = preprocess_field()

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        model = load_model(self, model_path)
        refuse_quantized(self, model)
        check_opset(self, model, per_channel=self.config.per_channel)
        batches = calibration_batches(
            self,
            model,
            ctx.calibration,
            max_samples=self.config.max_calibration_samples,
            batch_size=self.config.calibration_batch_size,
        )
        del model  # ONNX Runtime reads the file again; don't hold two copies

        with scratch_dir(ctx) as scratch, atomic_output(out_path) as tmp:
            source = preprocessed(self, model_path, scratch) if self.config.preprocess else Path(model_path)

            def quantize(exclude: list[str], op_types: list[str] | None, dest: Path) -> None:
                self._quantize(source, dest, batches, [*self.config.exclude_nodes, *exclude], op_types)
                require_quantized_nodes(self, dest, QUANTIZED_OPS)

            budget, data = ctx.max_accuracy_loss, ctx.evaluation
            if self.config.accuracy_control == "auto" and budget is not None and data and ctx.reference is not None:
                result = mixed_search(quantize, source, data, ctx.reference, ctx.labels, ctx.metric, budget, tmp)
                self.recorded.update(result.to_settings())
            else:
                quantize([], None, tmp)
            verify_output(self, tmp, batches[0])

    def _quantize(
        self,
        source: Path,
        dest: Path,
        batches: list[dict[str, np.ndarray]],
        exclude: list[str],
        op_types: list[str] | None = None,
    ) -> None:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        quant_types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
        methods = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }
        formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
        # entropy and percentile calibration print() progress; keep it out of our CLI's output.
        # (redirect_stdout swaps sys.stdout process-wide: run passes in processes, not threads.)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                quantize_static(
                    model_input=str(source),
                    model_output=str(dest),
                    calibration_data_reader=make_reader(batches),
                    quant_format=formats[self.config.quant_format],
                    per_channel=self.config.per_channel,
                    reduce_range=self.config.reduce_range,
                    activation_type=quant_types[self.config.activation_type],
                    weight_type=quant_types[self.config.weight_type],
                    calibrate_method=methods[self.config.calibrate_method],
                    op_types_to_quantize=op_types or self.config.op_types,
                    nodes_to_exclude=exclude,
                    extra_options={
                        "ActivationSymmetric": self.config.activation_symmetric,
                        "WeightSymmetric": self.config.weight_type == "qint8",
                    },
                )
        except Exception as exc:
            raise self.fail(f"ONNX Runtime's quantize_static failed: {first_line(exc)}") from exc
        finally:
            if printed.getvalue():
                logger.debug("quantize_static printed: %s", printed.getvalue().strip())


# --- helpers, shared with quantize_dynamic ----------------------------------------------------------


def check_opset(pass_: Pass, model: onnx.ModelProto, *, per_channel: bool) -> None:
    """Refuse a model whose opset is too old for what the quantizer would write into it."""
    opset = default_opset(model)
    if opset is None:
        return
    needed = PER_CHANNEL_MIN_OPSET if per_channel else INT8_MIN_OPSET
    if opset < needed:
        why = (
            "per-channel quantization writes DequantizeLinear(axis=...), which needs opset 13, "
            "and the quantized model would not load"
            if per_channel
            else "INT8 operators need opset 10"
        )
        raise pass_.fail(
            f"the model is opset {opset}; {why}. Run the opset_upgrade pass first "
            f"(target_opset=17)" + (", or set per_channel=false" if per_channel else "")
        )


def refuse_quantized(pass_: Pass, model: onnx.ModelProto) -> None:
    """A model that is already quantized would be quantized twice: refuse it, naming what shows it."""
    found = sorted({n.op_type for n in model.graph.node if n.op_type in QUANTIZED_OPS | _INTEGER_OPS})
    if found:
        raise pass_.fail(
            f"the model is already quantized (it has {', '.join(found)} nodes): give the FP32 model, "
            "or measure this one with --precisions fp32"
        )


_INTEGER_OPS = frozenset({"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QAttention"})


def preprocessed(pass_: Pass, model_path: Path, scratch: Path) -> Path:
    """``quant_pre_process`` into ``scratch``; the original path when pre-processing fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = scratch / "preprocessed.onnx"
    try:
        quant_pre_process(
            str(model_path),
            str(out),
            # symbolic shape inference needs sympy, which onnxruntime does not always bring along
            skip_symbolic_shape=importlib.util.find_spec("sympy") is None,
        )
    except Exception as exc:
        logger.warning("%s: quant_pre_process failed (%s); quantizing the model as given", pass_.name, exc)
        return Path(model_path)
    return out


def require_quantized_nodes(pass_: Pass, path: Path, op_types: frozenset[str]) -> None:
    """A "quantized" model without a single quantized operator would carry a false label."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    if not any(node.op_type in op_types for node in graph.node):
        raise pass_.fail(
            "the quantizer left no operator quantized (no operator of a type it supports?); "
            "this variant would be FP32 under an INT8 label"
        )
