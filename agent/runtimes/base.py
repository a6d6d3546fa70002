"""The runtime seam: each inference runtime is one file in this package implementing ``Runtime``.

A runtime declares what it can run (:attr:`Runtime.artifact_kinds`, :attr:`Runtime.precisions`) as
class attributes, readable without its vendor package: the host plans builds from these declarations
and the agent reports them in its status. It loads one :class:`LocalArtifact` (verified files on
disk) and runs batches of named numpy arrays. Vendor exceptions are translated at this boundary
into ``RuntimeLoadError`` and ``InferenceError`` so that the harness can report one clear line
instead of a vendor traceback. Vendor packages are imported inside methods, never at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol import LayerTime


class LocalArtifact:
    """A build on local disk: its kind, its member files by role, and the kind's settings."""

    def __init__(self, kind: str, files: Dict[str, Path], settings: Optional[Dict[str, Any]] = None) -> None:
        self.kind = kind
        self.files = {role: Path(p) for role, p in files.items()}
        self.settings = dict(settings or {})

    def path(self, role: str) -> Path:
        try:
            return self.files[role]
        except KeyError:
            raise RuntimeLoadError("the %s artifact has no %r file" % (self.kind, role)) from None

    @classmethod
    def onnx(cls, path: Path) -> LocalArtifact:
        return cls("onnx", {"model": Path(path)})

    def __repr__(self) -> str:
        return "LocalArtifact(%r, %r)" % (self.kind, {k: str(v) for k, v in self.files.items()})


class InputSpec:
    """Name, shape (ints, or strings/None for dynamic axes) and numpy dtype of one model input."""

    def __init__(self, name: str, shape: List[Any], dtype: np.dtype) -> None:
        self.name = name
        self.shape = shape
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return "InputSpec(%r, %r, %s)" % (self.name, self.shape, self.dtype)


class Runtime:
    """Base class. Subclasses set the declarations and implement ``version``, ``load``, ``inputs``
    and ``infer``."""

    #: registry name, the ``runtime`` of a job ("onnxruntime")
    name: ClassVar[str] = "base"
    #: short name in variant ids ("ort" in "ort-int8-static")
    short_name: ClassVar[str] = "base"
    #: artifact kinds it loads, the preferred one first (the plan converts to it where it can)
    artifact_kinds: ClassVar[Tuple[str, ...]] = ()
    #: variant precisions it runs ("fp32", "fp16", "int8-static", ...)
    precisions: ClassVar[Tuple[str, ...]] = ()
    #: one line for ``--help``
    summary: ClassVar[str] = ""
    #: options ``--search wide`` also measures, as (label for the variant id, options)
    search_options: ClassVar[Tuple[Tuple[str, Dict[str, Any]], ...]] = ()
    #: the runtime option a job's ``threads`` sets (None: the runtime has no thread setting)
    threads_option: ClassVar[Optional[str]] = None

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        self.options = dict(options or {})

    @staticmethod
    def version() -> str:
        """The vendor package's version; RuntimeLoadError (with the install hint) when absent."""
        raise NotImplementedError

    def load(self, artifact: LocalArtifact) -> None:
        raise NotImplementedError

    @property
    def inputs(self) -> List[InputSpec]:
        raise NotImplementedError

    def infer(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        raise NotImplementedError

    def settings(self) -> Dict[str, Any]:
        """The settings the runtime really used once loaded (threads, providers, the precision the
        plugin ran in): recorded in the result, so nothing that decides a figure stays implicit."""
        return {}

    def close(self) -> None:
        """Release the loaded model."""

    def concurrent_infers(self, concurrency: int) -> List[Callable[[Dict[str, np.ndarray]], Any]]:
        """One infer callable per query in flight, each safe to call from its own thread while the
        others run, and releasing the GIL while it runs. The default shares :meth:`infer`, right
        for a runtime whose session runs concurrent calls (ONNX Runtime's does)."""
        return [self.infer] * concurrency

    def run_concurrent(self, batches: List[Dict[str, np.ndarray]], concurrency: int, plan: Any) -> Any:
        """A window with ``concurrency`` queries in flight (an :class:`agent.window.WindowTimes`);
        the default runs :meth:`concurrent_infers` on threads. A runtime with its own asynchronous
        API overrides this."""
        from agent.window import threaded_window

        return threaded_window(self.concurrent_infers(concurrency), batches, plan)

    def layer_profile(self, batches: List[Dict[str, np.ndarray]], queries: int) -> List[LayerTime]:
        """The top operators by time over ``queries`` profiled runs, in a session of their own so that
        profiling never slows a timed window. Raises InferenceError where the runtime has no profiler."""
        raise InferenceError("%s has no per-layer profiler in edgeprof" % self.name)

    def device_memory_mib(self) -> Dict[str, float]:
        """Device memory in use where the runtime exposes it (MiB by name); {} where it does not."""
        return {}

    def check_kind(self, artifact: LocalArtifact) -> None:
        if artifact.kind not in self.artifact_kinds:
            raise RuntimeLoadError(
                "%s runs %s artifacts, not %s" % (self.name, " or ".join(self.artifact_kinds), artifact.kind)
            )

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
