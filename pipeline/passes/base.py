"""The seam every optimisation pass implements, and the few helpers they share.

A pass turns one artifact into another (:class:`BuildFiles`: a kind from
:data:`agent.protocol.ARTIFACT_KINDS` and its member files). Most passes are ONNX to ONNX and only
implement :meth:`Pass.run` (one ONNX file in, one out); an exporter (ONNX to an OpenVINO IR, to a
TensorRT build recipe) overrides :meth:`Pass.apply`. A pass *declares* what it provides
(:attr:`Pass.provides`: the precision of its output, or None for a transformation that keeps the
input's), for which runtimes (:attr:`Pass.runtimes`), and its input and output kinds: the plan, the
CLI's choices and its help text are derived from these declarations.

A pass never edits its input and writes its output atomically (a temporary file in the output's
folder, then ``os.replace``). A failure of this candidate (the vendor tool refused the model, the
output does not load) is a :class:`~pipeline.errors.PassError` raised ``from`` the vendor error, so
the sweep records it and moves on. A bad configuration is a ``ValueError`` (pydantic's
``ValidationError`` is one), raised by the constructor before any work. Whether the finished build
loads and runs is checked by the runtime that will run it (``pipeline.build``); a pass checks its
own output only where its tool is known to write models that do not load (the quantizers do).

Heavy imports (``onnxruntime.quantization``, ``openvino``, ``nncf``) belong inside ``run``/``apply``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pydantic

from agent.protocol.dtypes import numpy_dtype_name
from pipeline.errors import PassError

if TYPE_CHECKING:
    import onnx
    import onnxruntime

#: ONNX element types whose tensors a pass may treat as floating-point weights.
FLOAT_TENSOR_TYPES = (1, 10, 11)  # FLOAT, FLOAT16, DOUBLE


@dataclass(frozen=True)
class PassContext:
    """What a pass may need besides the model and its own config."""

    calibration: dict[str, np.ndarray] | None = None
    """Arrays named by model input; the first dimension counts samples."""
    work_dir: Path | None = None
    """Scratch space for the pass; the system temp folder when None."""
    evaluation: dict[str, np.ndarray] | None = None
    """Held-out inputs, named by model input, for passes that check quality while they work
    (accuracy-controlled quantization, mixed precision)."""
    labels: np.ndarray | None = None
    """Integer class per evaluation sample, when the user gave labels."""
    reference: np.ndarray | None = None
    """The FP32 model's first output on ``evaluation`` (the fidelity reference)."""
    max_accuracy_loss: float | None = None
    """The user's accuracy budget, absolute (0.01 = 1 point of top-1, or 0.01 of cosine)."""
    metric: str = "top1"
    """What the budget measures: ``top1`` (against ``labels``), ``agreement`` or ``cosine`` (against
    ``reference``)."""


@dataclass(frozen=True)
class BuildFiles:
    """An artifact on the host while it is being built: its kind, member files by role, settings."""

    kind: str
    files: Mapping[str, Path]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def path(self, role: str = "model") -> Path:
        try:
            return Path(self.files[role])
        except KeyError:
            raise PassError(f"the {self.kind} artifact has no {role!r} file") from None

    @classmethod
    def onnx(cls, path: Path) -> BuildFiles:
        return cls("onnx", {"model": Path(path)})


class Pass:
    """One model transformation. Subclasses set ``name``, the declarations, ``Config`` and ``run``
    (or ``apply``)."""

    name: ClassVar[str]
    """Registry key, e.g. ``"quantize_static"``."""
    summary: ClassVar[str] = ""
    """One line for ``--help`` and the plan."""
    provides: ClassVar[str | None] = None
    """Precision of the output (``"int8-static"``); None for a transformation that keeps the input's."""
    runtimes: ClassVar[tuple[str, ...]] = ()
    """Runtimes this pass builds for; empty: any runtime that loads :attr:`output_kind`."""
    input_kind: ClassVar[str] = "onnx"
    output_kind: ClassVar[str] = "onnx"
    needs_calibration: ClassVar[bool] = False
    """True when the pass needs ``PassContext.calibration`` (static INT8)."""
    sparsity: ClassVar[str | None] = None
    """The kind of zeros a pruning pass leaves: ``"unstructured"``, ``"2:4"`` or ``"structured"``."""
    search_space: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = ()
    """Settings ``--search wide`` also builds, as (label for the variant id, config overrides): the
    choices a practitioner would try by hand because the defaults hurt on some models."""
    prune_name: ClassVar[str | None] = None
    """The name a pruning pass has on ``--prune`` (``channels`` in ``--prune channels=0.3``)."""
    prune_amount: ClassVar[str | None] = None
    """The config field ``--prune NAME=VALUE`` sets (``ratio``); None when the pass takes no amount."""

    class Config(pydantic.BaseModel):
        """Parameters of the pass; every field carries ``description=``."""

        model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    config: Config

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        raw = {} if config is None else dict(config) if isinstance(config, Mapping) else config
        self.config = self.Config.model_validate(raw)
        #: what the pass decided while it ran (layers kept in float, the metric it reached): ``apply``
        #: puts it in the build's settings under the pass's name, for the record
        self.recorded: dict[str, Any] = {}

    def apply(self, source: BuildFiles, work_dir: Path, ctx: PassContext) -> BuildFiles:
        """Turn ``source`` into this pass's output, written under ``work_dir``. The default serves
        ONNX-to-ONNX passes through :meth:`run`."""
        if source.kind != self.input_kind:
            raise self.fail(f"takes {self.input_kind} artifacts, not {source.kind}")
        out = Path(work_dir) / "model.onnx"
        self.run(source.path("model"), out, ctx)
        settings = dict(source.settings)
        if self.recorded:
            settings[self.name] = dict(self.recorded)
        return BuildFiles(self.output_kind, {"model": out}, settings)

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        """Read ``model_path``, write the transformed model to ``out_path`` (ONNX to ONNX passes)."""
        raise NotImplementedError

    @classmethod
    def serves(cls, runtime: str) -> bool:
        """True when this pass builds for ``runtime`` (its declaration names it, or names none)."""
        return not cls.runtimes or runtime in cls.runtimes

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """JSON schema of ``Config``, for ``--help``-style listings."""
        return cls.Config.model_json_schema()

    def fail(self, what: str) -> PassError:
        """A :class:`PassError` whose message starts with this pass's name."""
        return PassError(f"{self.name}: {what}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.model_dump()!r})"


# --- helpers shared by the passes -------------------------------------------------------------


def load_model(pass_: Pass, model_path: Path, *, load_external_data: bool = True) -> onnx.ModelProto:
    """Load and check an ONNX model; an unreadable or invalid file is a PassError."""
    import onnx

    model_path = Path(model_path)
    if not model_path.is_file():
        raise pass_.fail(f"input model {model_path} does not exist or is not a file")
    try:
        model = onnx.load(str(model_path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf DecodeError, OSError, ...
        raise pass_.fail(f"cannot read {model_path} as an ONNX model ({type(exc).__name__}: {exc})") from exc
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise pass_.fail(f"{model_path} is not a valid ONNX model: {first_line(exc)}") from exc
    return model


def default_opset(model: onnx.ModelProto) -> int | None:
    """Version of the default ONNX operator set the model imports; None if it imports none."""
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return int(opset.version)
    return None


@contextlib.contextmanager
def atomic_output(out_path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out_path``; on success move it into place, else delete it."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp.onnx", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(ctx: PassContext) -> Iterator[Path]:
    """A fresh folder under ``ctx.work_dir`` (or the system temp), removed afterwards."""
    if ctx.work_dir is not None:
        Path(ctx.work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgeprof-pass-", dir=ctx.work_dir) as name:
        yield Path(name)


def save_model(pass_: Pass, model: onnx.ModelProto, path: Path) -> None:
    """Serialise ``model`` to ``path``; a model ONNX cannot serialise is a PassError."""
    import onnx

    try:
        onnx.save(model, str(path))
    except Exception as exc:  # e.g. over protobuf's 2 GiB limit
        raise pass_.fail(f"cannot write the output model ({first_line(exc)})") from exc


def ort_session(pass_: Pass, model_path: Path) -> onnxruntime.InferenceSession:
    """Open ``model_path`` in ONNX Runtime on CPU; a model that does not load is a PassError."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the exception carries what we need
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise pass_.fail(f"the output model does not load in ONNX Runtime (CPU): {first_line(exc)}") from exc


def run_session(
    pass_: Pass, session: onnxruntime.InferenceSession, feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """Run one inference; a runtime failure is a PassError."""
    try:
        return [np.asarray(out) for out in session.run(None, dict(feeds))]
    except Exception as exc:
        raise pass_.fail(f"the output model loads but fails to run in ONNX Runtime: {first_line(exc)}") from exc


def probe_feeds(
    session: onnxruntime.InferenceSession, calibration: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray] | None:
    """Inputs for one smoke-test inference.

    Per input: the first calibration sample(s) when their shape fits the input, else zeros with
    every symbolic dimension set to 1. None when some input has a type that cannot be synthesised.
    """
    feeds: dict[str, np.ndarray] = {}
    for arg in session.get_inputs():
        name = numpy_dtype_name(arg.type)
        if name is None:
            return None
        dtype = np.dtype(name)
        dims = [d if isinstance(d, int) and d > 0 else None for d in arg.shape]
        batch = dims[0] if dims and dims[0] is not None else 1
        array = None if calibration is None else calibration.get(arg.name)
        if array is not None and _fits(np.asarray(array), dims, batch):
            feeds[arg.name] = np.asarray(array)[:batch].astype(dtype, copy=False)
        else:
            feeds[arg.name] = np.zeros([d if d is not None else 1 for d in dims], dtype=dtype)
    return feeds


def _fits(array: np.ndarray, dims: list[int | None], batch: int) -> bool:
    if array.ndim != len(dims) or array.ndim == 0 or len(array) < batch:
        return False
    return all(want is None or want == have for want, have in zip(dims[1:], array.shape[1:], strict=True))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 400 else line[:400] + "…"


def verify_output(
    pass_: Pass, model_path: Path, calibration: Mapping[str, np.ndarray] | None = None
) -> list[np.ndarray] | None:
    """Load ``model_path`` in ONNX Runtime (CPU) and run one inference on :func:`probe_feeds`.

    Returns the outputs, or None when no inputs could be synthesised (then only loading is checked).
    """
    session = ort_session(pass_, model_path)
    feeds = probe_feeds(session, calibration)
    if feeds is None:
        return None
    return run_session(pass_, session, feeds)
