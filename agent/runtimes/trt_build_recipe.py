"""A TensorRT build recipe: how the device builds an engine from the ONNX member of the artifact.

The host writes it (``pipeline/passes/trt_recipe.py``) into the manifest's settings under
:data:`SETTINGS_KEY`; the agent reads it back (:meth:`TRTBuildRecipe.from_settings`) and builds the
engine on the device, because an engine is specific to its GPU and TensorRT release. Both ends use
this one definition, so they cannot drift.

Precisions map to builder flags as trtexec's do, and the recipe renders the equivalent ``trtexec``
command line (:func:`render_trtexec`), so that a user can reproduce any figure by hand:

    fp32         no precision flag; TF32 cleared unless ``tf32`` (``--noTF32``): FP32 means FP32
    fp16         FP16 (``--fp16``)
    int8-static  INT8 (``--int8``) on a QDQ model: explicit quantization, the only INT8 path left
                 (TensorRT 10 deprecated implicit calibration and 11 removed it)
    best         FP16 + INT8 on a QDQ model (``--fp16 --int8``). Not ``--best``: that also enables
                 BF16/FP8 where a release has them, and on a model without QDQ trtexec then builds
                 INT8 with placeholder scales, whose outputs mean nothing.

Python 3.8, stdlib only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from typing import Any, Dict, List, Optional, Sequence, Tuple

from agent.errors import RuntimeLoadError

SETTINGS_KEY = "tensorrt_recipe"
RECIPE_SCHEMA = 1
#: variant precision -> the builder flags it sets
PRECISION_FLAGS: Dict[str, Tuple[str, ...]] = {
    "fp32": (),
    "fp16": ("fp16",),
    "int8-static": ("int8",),
    "best": ("fp16", "int8"),
}
#: precisions whose ONNX must carry QuantizeLinear/DequantizeLinear pairs
QDQ_PRECISIONS = ("int8-static", "best")
#: builder optimisation levels TensorRT 8.6 and later accept (3 is its default)
OPTIMIZATION_LEVELS = range(6)

Shape = Tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ShapeProfile:
    """One input's optimisation profile: the smallest, the tuned-for and the largest shape."""

    min: Shape
    opt: Shape
    max: Shape


@dataclasses.dataclass(frozen=True)
class TRTBuildRecipe:
    """Everything the engine build depends on besides the ONNX file, the GPU and TensorRT itself."""

    precision: str
    #: input name -> profile; empty when every input has a static shape
    profile: Dict[str, ShapeProfile] = dataclasses.field(default_factory=dict)
    tf32: bool = False
    sparse_weights: bool = False  # 2:4 sparse tactics (--sparsity=enable); only 2:4 weights use them
    dla_core: Optional[int] = None
    gpu_fallback: bool = True  # with a DLA core: layers the DLA cannot run go to the GPU
    workspace_mib: Optional[int] = None  # None: TensorRT's default (the GPU's memory)
    builder_optimization_level: Optional[int] = None  # None: TensorRT's default (3)

    def __post_init__(self) -> None:
        problems = recipe_problems(self)
        if problems:
            raise RuntimeLoadError("the TensorRT build recipe is invalid: %s" % "; ".join(problems))

    @property
    def flags(self) -> Tuple[str, ...]:
        return PRECISION_FLAGS[self.precision]

    @property
    def needs_qdq(self) -> bool:
        return self.precision in QDQ_PRECISIONS

    def batch_range(self) -> Optional[Tuple[int, int]]:
        """(min, max) of the first axis over the profiled inputs; None without a profile."""
        if not self.profile:
            return None
        return (
            max(p.min[0] for p in self.profile.values() if p.min),
            min(p.max[0] for p in self.profile.values() if p.max),
        )

    def to_settings(self) -> Dict[str, Any]:
        """The JSON the manifest carries under :data:`SETTINGS_KEY`."""
        return {
            "schema": RECIPE_SCHEMA,
            "precision": self.precision,
            "flags": list(self.flags),
            "tf32": self.tf32,
            "profile": {
                name: {"min": list(p.min), "opt": list(p.opt), "max": list(p.max)}
                for name, p in sorted(self.profile.items())
            },
            "sparse_weights": self.sparse_weights,
            "dla_core": self.dla_core,
            "gpu_fallback": self.gpu_fallback,
            "workspace_mib": self.workspace_mib,
            "builder_optimization_level": self.builder_optimization_level,
        }

    @classmethod
    def from_settings(cls, settings: Dict[str, Any]) -> TRTBuildRecipe:
        """The recipe in an artifact's settings; RuntimeLoadError naming what is wrong."""
        raw = settings.get(SETTINGS_KEY)
        if not isinstance(raw, dict):
            raise RuntimeLoadError(
                "the tensorrt-recipe artifact has no %r settings: rebuild it with a current edgeprof" % SETTINGS_KEY
            )
        if raw.get("schema") != RECIPE_SCHEMA:
            raise RuntimeLoadError(
                "the TensorRT recipe has schema %r; this agent reads schema %d: update the agent or the host"
                % (raw.get("schema"), RECIPE_SCHEMA)
            )
        try:
            profile = {
                str(name): ShapeProfile(_dims(p["min"]), _dims(p["opt"]), _dims(p["max"]))
                for name, p in dict(raw.get("profile") or {}).items()
            }
            recipe = cls(
                precision=str(raw["precision"]),
                profile=profile,
                tf32=bool(raw.get("tf32", False)),
                sparse_weights=bool(raw.get("sparse_weights", False)),
                dla_core=_optional_int(raw.get("dla_core")),
                gpu_fallback=bool(raw.get("gpu_fallback", True)),
                workspace_mib=_optional_int(raw.get("workspace_mib")),
                builder_optimization_level=_optional_int(raw.get("builder_optimization_level")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeLoadError("the TensorRT build recipe is malformed: %s" % exc) from None
        if list(raw.get("flags", recipe.flags)) != list(recipe.flags):
            raise RuntimeLoadError(
                "the TensorRT recipe says flags %s for %s, which sets %s"
                % (raw.get("flags"), recipe.precision, recipe.flags)
            )
        return recipe

    def digest(self, model_sha256: str) -> str:
        """sha256 over the ONNX file's hash and the recipe: the first part of the engine-cache key."""
        text = json.dumps({"model": model_sha256, "recipe": self.to_settings()}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipe_problems(recipe: TRTBuildRecipe) -> List[str]:
    """What makes a recipe unbuildable, as sentences (empty when it is fine)."""
    problems = []
    if recipe.precision not in PRECISION_FLAGS:
        problems.append("precision %r is not one of %s" % (recipe.precision, ", ".join(sorted(PRECISION_FLAGS))))
    for name, p in recipe.profile.items():
        ranks = {len(p.min), len(p.opt), len(p.max)}
        if len(ranks) != 1 or 0 in ranks:
            problems.append("input %r: min, opt and max shapes must have one rank, at least 1" % name)
        elif not all(1 <= a <= b <= c for a, b, c in zip(p.min, p.opt, p.max)):
            problems.append("input %r: each axis needs 1 <= min <= opt <= max (%s)" % (name, _profile_text(p)))
    if recipe.dla_core is not None:
        if recipe.dla_core < 0:
            problems.append("dla_core must be 0 or more")
        if recipe.precision == "fp32":
            problems.append("a DLA runs FP16 and INT8 only: build fp16, int8-static or best for it")
    if recipe.workspace_mib is not None and recipe.workspace_mib < 1:
        problems.append("workspace_mib must be at least 1")
    level = recipe.builder_optimization_level
    if level is not None and level not in OPTIMIZATION_LEVELS:
        problems.append("builder_optimization_level must be 0..5, not %d" % level)
    return problems


def render_trtexec(
    recipe: TRTBuildRecipe,
    onnx: str = "model.onnx",
    engine: Optional[str] = None,
    batch: Optional[int] = None,
    cuda_graph: bool = False,
) -> str:
    """The ``trtexec`` command that builds (and, with ``batch``, times) the same engine.

    Flags read the same in TensorRT 8.6 and 10.x: ``--memPoolSize=workspace:N`` is in MiB in both.
    """
    args = ["trtexec", "--onnx=%s" % onnx]
    if engine:
        args.append("--saveEngine=%s" % engine)
    if recipe.profile:
        for flag, which in (("--minShapes", "min"), ("--optShapes", "opt"), ("--maxShapes", "max")):
            args.append("%s=%s" % (flag, _shapes_spec({n: getattr(p, which) for n, p in recipe.profile.items()})))
        if batch is not None:
            args.append("--shapes=%s" % _shapes_spec({n: (batch,) + p.opt[1:] for n, p in recipe.profile.items()}))
    args += ["--%s" % flag for flag in recipe.flags]
    if not recipe.tf32:
        args.append("--noTF32")
    if recipe.sparse_weights:
        args.append("--sparsity=enable")
    if recipe.workspace_mib is not None:
        args.append("--memPoolSize=workspace:%d" % recipe.workspace_mib)
    if recipe.dla_core is not None:
        args.append("--useDLACore=%d" % recipe.dla_core)
        if recipe.gpu_fallback:
            args.append("--allowGPUFallback")
    if recipe.builder_optimization_level is not None:
        args.append("--builderOptimizationLevel=%d" % recipe.builder_optimization_level)
    if cuda_graph:
        args.append("--useCudaGraph")
    return " ".join(shlex.quote(a) for a in args)


def _shapes_spec(shapes: Dict[str, Sequence[int]]) -> str:
    """trtexec's ``name:AxBxC[,name:...]``; a name with ``:`` or ``,`` is single-quoted, as trtexec reads it."""
    parts = []
    for name in sorted(shapes):
        label = "'%s'" % name if any(c in name for c in ":,'") else name
        parts.append("%s:%s" % (label, "x".join(str(d) for d in shapes[name])))
    return ",".join(parts)


def _profile_text(p: ShapeProfile) -> str:
    return "min %s, opt %s, max %s" % (list(p.min), list(p.opt), list(p.max))


def _dims(values: Any) -> Shape:
    dims = tuple(int(v) for v in values)
    if any(isinstance(v, bool) for v in values):
        raise ValueError("shape %r holds booleans" % (values,))
    return dims


def _optional_int(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("%r is not a whole number" % (value,))
    return value
