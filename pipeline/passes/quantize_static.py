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
from collections.abc import Mapping
from dataclasses import dataclass
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

        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        quant_types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
        methods = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }
        formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}

        with scratch_dir(ctx) as scratch, atomic_output(out_path) as tmp:
            source = preprocessed(self, model_path, scratch) if self.config.preprocess else Path(model_path)
            # entropy and percentile calibration print() progress; keep it out of our CLI's output.
            # (redirect_stdout swaps sys.stdout process-wide: run passes in processes, not threads.)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    quantize_static(
                        model_input=str(source),
                        model_output=str(tmp),
                        calibration_data_reader=make_reader(batches),
                        quant_format=formats[self.config.quant_format],
                        per_channel=self.config.per_channel,
                        reduce_range=self.config.reduce_range,
                        activation_type=quant_types[self.config.activation_type],
                        weight_type=quant_types[self.config.weight_type],
                        calibrate_method=methods[self.config.calibrate_method],
                        op_types_to_quantize=self.config.op_types,
                        nodes_to_exclude=list(self.config.exclude_nodes),
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
            require_quantized_nodes(self, tmp, QUANTIZED_OPS)
            verify_output(self, tmp, batches[0])


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


@dataclass(frozen=True)
class _InputSpec:
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...] | None  # None: rank unknown; None entries: symbolic dims


def _graph_inputs(pass_: Pass, model: onnx.ModelProto) -> list[_InputSpec]:
    import onnx

    initializers = {init.name for init in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        if not value.type.HasField("tensor_type"):
            raise pass_.fail(f"input {value.name!r} is not a tensor; only tensor inputs can be calibrated")
        tensor = value.type.tensor_type
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        except (KeyError, ValueError, TypeError) as exc:
            raise pass_.fail(f"input {value.name!r} has no usable element type ({tensor.elem_type})") from exc
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        specs.append(_InputSpec(value.name, dtype, shape))
    return specs


def calibration_batches(
    pass_: Pass,
    model: onnx.ModelProto,
    calibration: Mapping[str, np.ndarray] | None,
    *,
    max_samples: int,
    batch_size: int,
) -> list[dict[str, np.ndarray]]:
    """Split the calibration arrays into feeds for the model, checking names, ranks and dims."""
    specs = _graph_inputs(pass_, model)
    if not calibration:
        raise pass_.fail(
            "static quantization needs calibration data; pass --calib with samples for the model's "
            f"inputs ({', '.join(s.name for s in specs)}): an .npz with one array per input "
            "(or an .npy for a one-input model)"
        )
    missing = [s.name for s in specs if s.name not in calibration]
    if missing:
        raise pass_.fail(
            f"the calibration data has no array for input(s) {', '.join(missing)}; "
            f"it has {', '.join(sorted(calibration)) or 'nothing'}"
        )
    arrays = {s.name: np.asarray(calibration[s.name]) for s in specs}
    counts = {name: (len(a) if a.ndim else 0) for name, a in arrays.items()}
    if len(set(counts.values())) != 1:
        raise pass_.fail(f"calibration arrays differ in sample count: {counts}")
    n = min(next(iter(counts.values())), max_samples)
    if n == 0:
        raise pass_.fail("the calibration data holds no samples")

    fixed_batch = None
    for spec in specs:
        array = arrays[spec.name]
        if spec.shape is None:
            continue
        if array.ndim != len(spec.shape):
            raise pass_.fail(
                f"calibration array for input {spec.name!r} has shape {array.shape} but the model "
                f"expects rank {len(spec.shape)} ({_shape_text(spec.shape)}); the first axis counts samples"
            )
        for axis, (want, have) in enumerate(zip(spec.shape[1:], array.shape[1:], strict=True), start=1):
            if want is not None and want > 0 and want != have:
                raise pass_.fail(
                    f"calibration array for input {spec.name!r} has {have} on axis {axis} but the model "
                    f"expects {want} ({_shape_text(spec.shape)})"
                )
        if spec.shape and spec.shape[0] and fixed_batch is None:
            fixed_batch = spec.shape[0]

    if fixed_batch is not None:
        if n < fixed_batch:
            raise pass_.fail(f"the model's fixed batch is {fixed_batch} but only {n} calibration samples exist")
        step, count = fixed_batch, n // fixed_batch
    else:
        # equal batches only: the entropy and percentile calibrators cannot stack a ragged last one
        step = min(batch_size, n)
        count = n // step
    return [
        {s.name: np.ascontiguousarray(arrays[s.name][i * step : (i + 1) * step], dtype=s.dtype) for s in specs}
        for i in range(count)
    ]


def make_reader(batches: list[dict[str, np.ndarray]]) -> Any:
    """An ONNX Runtime ``CalibrationDataReader`` over prepared feeds (rewindable)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _FeedReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._index = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._index >= len(batches):
                return None
            self._index += 1
            return batches[self._index - 1]

        def rewind(self) -> None:
            self._index = 0

        def __len__(self) -> int:
            return len(batches)

    return _FeedReader()


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None or d == 0 else str(d) for d in shape) + "]"
