"""INT8 post-training quantisation for OpenVINO with NNCF (``nncf.quantize``), accuracy-controlled
(``nncf.quantize_with_accuracy_control``) when the user gave an accuracy budget.

The ONNX model is converted to OpenVINO (``openvino.convert_model``) and NNCF quantises that model,
so the output is an OpenVINO IR holding FakeQuantize operations, which the CPU plugin runs with
INT8 kernels. Activation ranges come from ``PassContext.calibration``, one sample per item with the
batch axis kept (a model with a fixed batch axis gets items of that size).

``model_type`` matters more than anything else here: on a 6-layer sentence encoder NNCF's plain
defaults kept cosine 0.107 to the FP32 outputs and ``model_type=TRANSFORMER`` 0.9975 (at ~2.4x ONNX
Runtime FP32's throughput on an AMD EPYC, 2 threads). ``auto`` looks at the graph
(:mod:`pipeline.passes.graph_patterns`) and says what it found in the settings.

Accuracy control is a switch of this pass (``accuracy_control: auto``), not a second pass, so that
the plan needs no extra variant: when ``ctx.max_accuracy_loss`` is set and ``ctx.evaluation`` holds
data, NNCF reverts the operations that cost the most accuracy to floating point until the drop
(absolute, top-1 against ``ctx.labels``, else mean cosine to the FP32 outputs) is within budget
(:mod:`pipeline.passes.nncf_accuracy`). Either way the settings say what was done.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic

from pipeline.passes.base import BuildFiles, Pass, PassContext, first_line, load_model
from pipeline.passes.calibration_feeds import calibration_batches
from pipeline.passes.graph_patterns import transformer_evidence
from pipeline.passes.nncf_accuracy import accuracy_report, evaluation_set, validation_fn
from pipeline.passes.ov_convert import convert_onnx, openvino_reason, openvino_version, save_ir

#: OpenVINO operations that NNCF quantises (their activations go through a FakeQuantize)
QUANTIZABLE_OV_OPS = frozenset(
    {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData", "MatMul"}
)
#: ops that keep an INT8 tensor INT8, so NNCF puts the FakeQuantize before them (FQ -> MaxPool -> Conv)
_PRECISION_PRESERVING = frozenset(
    {
        "Concat",
        "Convert",
        "MaxPool",
        "Pad",
        "ReduceMax",
        "Reshape",
        "Split",
        "Squeeze",
        "StridedSlice",
        "Transpose",
        "Unsqueeze",
        "VariadicSplit",
    }
)


class NNCFQuantize(Pass):
    """INT8 OpenVINO IR from an ONNX model: NNCF post-training quantisation."""

    name: ClassVar[str] = "nncf_quantize"
    summary: ClassVar[str] = "INT8 OpenVINO IR by NNCF post-training quantisation (accuracy-controlled with a budget)"
    provides: ClassVar[str | None] = "int8-static"
    runtimes: ClassVar[tuple[str, ...]] = ("openvino",)
    input_kind: ClassVar[str] = "onnx"
    output_kind: ClassVar[str] = "openvino-ir"
    needs_calibration: ClassVar[bool] = True
    search_space: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = (
        ("mixed", {"preset": "mixed"}),
        ("perf", {"preset": "performance"}),
        # NNCF's plain defaults: kept cosine 0.107 on a sentence encoder (design.md); measured, not assumed
        ("plain", {"model_type": "none"}),
    )

    class Config(Pass.Config):
        model_type: Literal["auto", "transformer", "none"] = pydantic.Field(
            "auto",
            description=(
                "transformer: NNCF's transformer scheme (keeps the ops that break INT8 attention in "
                "floating point); none: its default scheme; auto: transformer when the graph has an "
                "attention block or a layer norm."
            ),
        )
        preset: Literal["performance", "mixed"] | None = pydantic.Field(
            None,
            description=(
                "performance: symmetric weights and activations; mixed: asymmetric activations. "
                "Unset: NNCF's default, mixed for transformers and performance otherwise."
            ),
        )
        subset_size: int = pydantic.Field(
            300, ge=1, description="Calibration samples NNCF collects statistics on (capped by the samples given)."
        )
        fast_bias_correction: bool = pydantic.Field(
            True, description="NNCF's fast bias correction; false runs the slower, more exact BiasCorrection."
        )
        ignored_patterns: list[str] = pydantic.Field(
            default_factory=list,
            description=(
                "Regular expressions over the OpenVINO operation names (the converted ONNX node names, "
                "e.g. '.*/attention/.*') to keep in floating point; a pattern that matches nothing fails."
            ),
        )
        accuracy_control: Literal["auto", "off"] = pydantic.Field(
            "auto",
            description=(
                "auto: with an accuracy budget (--max-accuracy-loss) and evaluation data, NNCF reverts "
                "operations to floating point until the absolute drop is within it; off: plain quantisation."
            ),
        )
        max_evaluation_samples: int = pydantic.Field(
            300, ge=1, description="Evaluation samples accuracy control validates on (the first ones)."
        )

    config: Config

    def apply(self, source: BuildFiles, work_dir: Path, ctx: PassContext) -> BuildFiles:
        if source.kind != self.input_kind:
            raise self.fail(f"takes {self.input_kind} artifacts, not {source.kind}")
        model_path = source.path("model")
        onnx_model = load_model(self, model_path)
        items = calibration_batches(
            self, onnx_model, ctx.calibration, max_samples=self.config.subset_size, batch_size=1
        )
        evidence = transformer_evidence(onnx_model)
        del onnx_model
        transformer = self.config.model_type == "transformer" or (self.config.model_type == "auto" and bool(evidence))

        import nncf

        ov_model = convert_onnx(self, model_path)
        kwargs: dict[str, Any] = {
            "preset": None if self.config.preset is None else nncf.QuantizationPreset(self.config.preset),
            "subset_size": len(items),
            "fast_bias_correction": self.config.fast_bias_correction,
            "model_type": nncf.ModelType.TRANSFORMER if transformer else None,
        }
        if self.config.ignored_patterns:
            kwargs["ignored_scope"] = nncf.IgnoredScope(patterns=list(self.config.ignored_patterns), validate=True)
        controlled = self.config.accuracy_control == "auto" and ctx.max_accuracy_loss is not None and ctx.evaluation
        accuracy: dict[str, Any] | None = None
        with nncf_output() as messages:
            if controlled:
                evaluation = evaluation_set(self, ov_model, ctx, self.config.max_evaluation_samples)
                quantized = self._quantize(
                    nncf.quantize_with_accuracy_control,
                    ov_model,
                    nncf.Dataset(items),
                    nncf.Dataset(evaluation.items),
                    validation_fn(evaluation),
                    max_drop=float(ctx.max_accuracy_loss),  # type: ignore[arg-type]
                    drop_type=nncf.DropType.ABSOLUTE,
                    **kwargs,
                )
                accuracy = accuracy_report(ov_model, quantized, evaluation, float(ctx.max_accuracy_loss), messages)  # type: ignore[arg-type]
            else:
                quantized = self._quantize(nncf.quantize, ov_model, nncf.Dataset(items), **kwargs)

        graph = quantization_summary(quantized)
        if not graph["quantized_operations"] and accuracy is not None and accuracy["reverted_all"]:
            raise self.fail(
                f"accuracy control had to revert every quantized operation to floating point (drop "
                f"{accuracy['drop']:.3g} against a budget of {accuracy['max_drop']:g}, {accuracy['metric']}): "
                "no INT8 build of this model fits the budget; widen --max-accuracy-loss or keep FP32"
            )
        if not graph["quantized_operations"]:
            raise self.fail(
                "NNCF left no operation quantized (no FakeQuantize before a Convolution or MatMul); "
                "this variant would be FP32 under an INT8 label"
            )
        files = save_ir(self, quantized, Path(work_dir), compress_to_fp16=False)
        settings = dict(source.settings)
        settings["nncf"] = {
            "model_type": "transformer" if transformer else "default",
            "model_type_requested": self.config.model_type,
            "model_type_evidence": evidence.describe(),
            "preset": self.config.preset or ("mixed" if transformer else "performance"),
            "preset_source": "config" if self.config.preset else "NNCF default for this model type",
            "subset_size": len(items),
            "subset_size_requested": self.config.subset_size,
            "calibration_item_batch": int(next(iter(items[0].values())).shape[0]),
            "fast_bias_correction": self.config.fast_bias_correction,
            "ignored_patterns": list(self.config.ignored_patterns),
            "accuracy_control": accuracy if accuracy is not None else self._why_no_control(ctx),
            "graph": graph,
            "weights": "int8 (quantized); the rest fp32",
            "nncf_version": nncf.__version__,
            "openvino_version": openvino_version(),
        }
        return BuildFiles(self.output_kind, files, settings)

    def _quantize(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call an NNCF entry point; any failure of NNCF or OpenVINO is this candidate's PassError."""
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # nncf.ValidationError, nncf.InternalError, RuntimeError from OpenVINO
            reason = openvino_reason(exc) if isinstance(exc, RuntimeError) else first_line(exc)
            raise self.fail(f"NNCF's {function.__name__} failed: {reason}") from exc

    def _why_no_control(self, ctx: PassContext) -> dict[str, Any]:
        if self.config.accuracy_control == "off":
            reason = "off in the pass config"
        elif ctx.max_accuracy_loss is None:
            reason = "no accuracy budget given (--max-accuracy-loss)"
        else:
            reason = "no evaluation data given (--eval)"
        return {"applied": False, "reason": reason}


def quantization_summary(model: Any) -> dict[str, Any]:
    """FakeQuantize count and which quantizable operations take a FakeQuantize'd input, from the graph."""
    fake_quantize = 0
    quantized: list[str] = []
    floating: list[str] = []
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            fake_quantize += 1
        elif kind in QUANTIZABLE_OV_OPS:
            (quantized if _fed_by_fake_quantize(op) else floating).append(op.get_friendly_name())
    return {"fake_quantize": fake_quantize, "quantized_operations": quantized, "float_operations": floating}


def _fed_by_fake_quantize(op: Any) -> bool:
    """True when an input of ``op`` comes from a FakeQuantize, directly or through ops that keep INT8."""
    for port in op.inputs():
        node = port.get_source_output().get_node()
        for _ in range(4):
            if node.get_type_name() == "FakeQuantize":
                return True
            if node.get_type_name() not in _PRECISION_PRESERVING:
                break
            node = node.input_value(0).get_node()
    return False


@contextlib.contextmanager
def nncf_output() -> Iterator[list[str]]:
    """Keep NNCF's INFO lines and progress bars out of our CLI's output, and hand them to the caller.

    NNCF logs to its own stdout handler (``nncf`` logger, not propagated) and draws progress bars
    with rich on ``sys.stdout``; the messages collected here are what accuracy control reports.
    (``redirect_stdout`` is process-wide: run passes in processes, not threads.)"""
    from nncf.common.logging.logger import nncf_logger

    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    collector = _Collect(logging.INFO)
    levels = [(handler, handler.level) for handler in nncf_logger.handlers]
    logger_level = nncf_logger.level
    for handler, _ in levels:
        handler.setLevel(logging.WARNING)
    nncf_logger.setLevel(logging.INFO)
    nncf_logger.addHandler(collector)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield messages
    finally:
        nncf_logger.removeHandler(collector)
        nncf_logger.setLevel(logger_level)
        for handler, level in levels:
            handler.setLevel(level)
