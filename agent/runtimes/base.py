"""The runtime seam: each inference runtime is one file in this package implementing ``Runtime``.

A runtime loads one model file and runs batches of named numpy arrays. Vendor exceptions are
translated at this boundary into ``RuntimeLoadError`` and ``InferenceError`` so that the harness
can report one clear line instead of a vendor traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np


class InputSpec:
    """Name, shape (ints, or strings/None for dynamic axes) and numpy dtype of one model input."""

    def __init__(self, name: str, shape: List[Any], dtype: np.dtype) -> None:
        self.name = name
        self.shape = shape
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return "InputSpec(%r, %r, %s)" % (self.name, self.shape, self.dtype)


class Runtime:
    """Base class. Subclasses set ``name`` and implement ``load``, ``infer`` and ``version``."""

    name = "base"

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        self.options = dict(options or {})

    @staticmethod
    def version() -> str:
        raise NotImplementedError

    def load(self, model_path: Path) -> None:
        raise NotImplementedError

    @property
    def inputs(self) -> List[InputSpec]:
        raise NotImplementedError

    def infer(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the loaded model."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
