"""ONNX to a TensorRT build recipe: the ONNX the device builds from, plus the build settings.

An engine is specific to its GPU and TensorRT release, so the host ships a recipe and the agent
builds the engine on the device (``agent/runtimes/trt_runtime.py``). The settings are one
:class:`~agent.runtimes.trt_build_recipe.TRTBuildRecipe`, the definition both ends share, and render
as the equivalent ``trtexec`` command line.

- :class:`TRTRecipe` (``trt_recipe``) builds every TensorRT precision; the plan tells it the
  variant's precision, its pruning and the requested batch sizes (``variant_config``). fp32 and fp16
  start from the FP32 ONNX (FP16 is a builder flag); int8-static and best start from a QDQ model,
  because explicit quantization is the INT8 path TensorRT keeps (10 deprecated implicit calibration
  and 11 removed it). The optimisation profile covers the batch sizes: min = the smallest, opt and
  max = the largest (kernels are tuned for the largest batch; ``opt_batch`` moves that).
- :class:`TRTQDQ` (``trt_qdq``) is ONNX Runtime's ``quantize_static`` with TensorRT's constraints:
  symmetric INT8 activations (TensorRT refuses a non-zero zero point) and full 8-bit weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pydantic

from agent.errors import RuntimeLoadError
from agent.runtimes.trt_build_recipe import SETTINGS_KEY, ShapeProfile, TRTBuildRecipe
from pipeline.passes.base import BuildFiles, Pass, PassContext, load_model
from pipeline.passes.quantize_static import QuantizeStatic

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class TRTQDQ(QuantizeStatic):
    """Calibrated INT8 as a QDQ model that TensorRT accepts."""

    name: ClassVar[str] = "trt_qdq"
    summary: ClassVar[str] = "calibrated INT8 as QDQ for TensorRT (symmetric activations, 8-bit weights)"
    provides: ClassVar[str | None] = "int8-static"
    runtimes: ClassVar[tuple[str, ...]] = ("tensorrt",)

    class Config(QuantizeStatic.Config):
        quant_format: Literal["qdq"] = pydantic.Field(
            "qdq", description="TensorRT reads QuantizeLinear/DequantizeLinear pairs only (explicit quantization)."
        )
        activation_type: Literal["qint8"] = pydantic.Field("qint8", description="TensorRT's INT8 is signed.")
        activation_symmetric: Literal[True] = pydantic.Field(
            True, description="TensorRT accepts symmetric INT8 only: every zero point must be 0."
        )
        reduce_range: bool = pydantic.Field(
            False,
            description="7-bit weights only help x86 CPUs without VNNI; TensorRT's INT8 kernels take full 8-bit.",
        )

    config: Config


class TRTRecipe(Pass):
    """Ship the ONNX model with the settings the device builds its TensorRT engine with."""

    name: ClassVar[str] = "trt_recipe"
    summary: ClassVar[str] = "TensorRT build recipe (ONNX + builder settings; the engine is built on the device)"
    provides: ClassVar[str | None] = None
    runtimes: ClassVar[tuple[str, ...]] = ("tensorrt",)
    input_kind: ClassVar[str] = "onnx"
    output_kind: ClassVar[str] = "tensorrt-recipe"
    #: variant precision -> the precision of the ONNX this recipe starts from (see pipeline.plan)
    builds_precisions: ClassVar[dict[str, str]] = {
        "fp32": "fp32",
        "fp16": "fp32",
        "int8-static": "int8-static",
        "best": "int8-static",
    }
    #: the variant's facts the plan writes into the config
    variant_config: ClassVar[tuple[str, ...]] = ("precision", "sparsity", "batch_sizes")

    class Config(Pass.Config):
        precision: Literal["fp32", "fp16", "int8-static", "best"] = pydantic.Field(
            "fp32",
            description="fp32 (TF32 off), fp16 (--fp16), int8-static (--int8 on a QDQ model), best (--fp16 --int8).",
        )
        batch_sizes: list[int] = pydantic.Field(
            default_factory=lambda: [1], min_length=1, description="Batch sizes the optimisation profile must cover."
        )
        opt_batch: int | None = pydantic.Field(
            None, ge=1, description="The batch TensorRT tunes its kernels for; default the largest of batch_sizes."
        )
        sparsity: str | None = pydantic.Field(
            None, description="The zeros the variant's pruning left; 2:4 turns on sparse tactics unless set below."
        )
        sparse_weights: bool | None = pydantic.Field(
            None, description="2:4 sparse tactics (--sparsity=enable); default: on when the variant is 2:4 pruned."
        )
        tf32: bool = pydantic.Field(False, description="Allow TF32 for FP32 layers (TensorRT's default; off here).")
        dla_core: int | None = pydantic.Field(
            None, ge=0, description="Build for this DLA core (Jetson Xavier/Orin), with GPU fallback by default."
        )
        gpu_fallback: bool = pydantic.Field(True, description="With a DLA core: run what the DLA cannot on the GPU.")
        workspace_mib: int | None = pydantic.Field(
            None, ge=1, description="Builder workspace limit in MiB (--memPoolSize=workspace:N); default TensorRT's."
        )
        builder_optimization_level: int | None = pydantic.Field(
            None, ge=0, le=5, description="0-5; TensorRT's default is 3 (8.6 and later)."
        )

        @pydantic.field_validator("batch_sizes")
        @classmethod
        def _positive(cls, value: list[int]) -> list[int]:
            if any(b < 1 for b in value):
                raise ValueError("batch sizes must be at least 1")
            return sorted(set(value))

        @pydantic.model_validator(mode="after")
        def _buildable(self) -> TRTRecipe.Config:
            """The recipe's own checks on what the settings alone decide (a DLA needs FP16 or INT8)."""
            try:
                self.recipe({})
            except RuntimeLoadError as exc:
                raise ValueError(str(exc).replace("the TensorRT build recipe is invalid: ", "")) from None
            return self

        def recipe(self, profile: dict[str, ShapeProfile], sparse_weights: bool = False) -> TRTBuildRecipe:
            return TRTBuildRecipe(
                precision=self.precision,
                profile=profile,
                tf32=self.tf32,
                sparse_weights=sparse_weights,
                dla_core=self.dla_core,
                gpu_fallback=self.gpu_fallback,
                workspace_mib=self.workspace_mib,
                builder_optimization_level=self.builder_optimization_level,
            )

    config: Config

    def apply(self, source: BuildFiles, work_dir: Path, ctx: PassContext) -> BuildFiles:
        if source.kind != self.input_kind:
            raise self.fail(f"takes {self.input_kind} artifacts, not {source.kind}")
        model_path = source.path("model")
        model = load_model(self, model_path)
        recipe = self._recipe(model, ctx)
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        out = work_dir / "model.onnx"
        shutil.copyfile(model_path, out)
        return BuildFiles(self.output_kind, {"model": out}, {**source.settings, SETTINGS_KEY: recipe.to_settings()})

    def _recipe(self, model: Any, ctx: PassContext) -> TRTBuildRecipe:
        c = self.config
        self._check_quantization(model, needs_qdq=c.precision in ("int8-static", "best"))
        sparse = c.sparse_weights if c.sparse_weights is not None else c.sparsity == "2:4"
        try:
            return c.recipe(self._profile(model, ctx), sparse_weights=sparse)
        except RuntimeLoadError as exc:
            raise self.fail(str(exc)) from exc

    def _profile(self, model: Any, ctx: PassContext) -> dict[str, ShapeProfile]:
        """One profile entry per input with a dynamic axis: the batch axis spans the requested sizes,
        other dynamic axes take the calibration data's size (TensorRT needs a number for each)."""
        low, high = self.config.batch_sizes[0], self.config.batch_sizes[-1]
        opt = self.config.opt_batch or high
        if not low <= opt <= high:
            raise self.fail(f"opt_batch {opt} is outside the batch sizes {self.config.batch_sizes}")
        initializers = {i.name for i in model.graph.initializer}
        profile = {}
        for value in model.graph.input:
            if value.name in initializers:
                continue
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in _dims(value)]
            if not dims or all(d is not None for d in dims):
                continue  # a static input: its shape is the engine's
            rest = self._static_rest(value.name, dims, ctx)
            if dims[0] is not None:
                raise self.fail(
                    f"input {value.name!r} has a fixed batch of {dims[0]} but dynamic axes after it; "
                    "export it with a dynamic batch axis or static sizes elsewhere"
                )
            profile[value.name] = ShapeProfile((low, *rest), (opt, *rest), (high, *rest))
        return profile

    def _static_rest(self, name: str, dims: list[int | None], ctx: PassContext) -> tuple[int, ...]:
        rest = dims[1:]
        if all(d is not None for d in rest):
            return tuple(int(d) for d in rest)  # type: ignore[arg-type]
        sample = None if ctx.calibration is None else ctx.calibration.get(name)
        if sample is not None and np.ndim(sample) == len(dims):
            shape = np.shape(sample)[1:]
            if all(want is None or want == have for want, have in zip(rest, shape, strict=True)):
                return tuple(int(d) for d in shape)
        axes = ", ".join(str(i + 1) for i, d in enumerate(rest) if d is None)
        raise self.fail(
            f"input {name!r} has dynamic axes ({axes}) besides the batch: TensorRT's profile needs their size; "
            "export the model with static sizes there, or pass --calib data whose arrays have them"
        )

    def _check_quantization(self, model: Any, *, needs_qdq: bool) -> None:
        from onnx import numpy_helper

        qdq = [n for n in model.graph.node if n.op_type in QDQ_OPS]
        if needs_qdq and not qdq:
            raise self.fail(
                f"{self.config.precision} for TensorRT needs a QDQ model (explicit quantization); this one has "
                "no QuantizeLinear/DequantizeLinear: put trt_qdq before this pass"
            )
        if qdq and not needs_qdq:
            raise self.fail(
                f"the model is already quantized (QDQ) but the recipe is {self.config.precision}: "
                "build int8-static or best from it"
            )
        zero_points = {n.input[2] for n in qdq if len(n.input) > 2 and n.input[2]}
        for init in model.graph.initializer:
            if init.name in zero_points and np.any(numpy_helper.to_array(init) != 0):
                raise self.fail(
                    f"zero point {init.name!r} is not 0: TensorRT accepts symmetric INT8 only; quantize with "
                    "trt_qdq (symmetric activations) instead of quantize_static's defaults"
                )


def _dims(value: Any) -> list[Any]:
    tensor = value.type.tensor_type
    return list(tensor.shape.dim) if tensor.HasField("shape") else []
