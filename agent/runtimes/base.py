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
from typing import Any, ClassVar, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import RuntimeLoadError


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

    def check_kind(self, artifact: LocalArtifact) -> None:
        if artifact.kind not in self.artifact_kinds:
            raise RuntimeLoadError(
                "%s runs %s artifacts, not %s" % (self.name, " or ".join(self.artifact_kinds), artifact.kind)
            )

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
