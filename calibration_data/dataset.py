"""The value every loader returns, the one error they raise, and the checks they all share.

Kept apart from ``loaders.py`` so that each format's module (``idx.py``, ``image_folder.py``) can
build a :class:`Dataset` and raise :class:`DatasetError` without importing the dispatcher.
Python 3.8-compatible with only NumPy: the agent may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "DatasetError", "check_finite", "check_limit", "data_error", "evenly_spaced"]


class DatasetError(Exception):
    """A data file cannot be used; the message is one line: file, problem, fix."""


def data_error(path: str | Path, problem: str, fix: str) -> DatasetError:
    """``DatasetError("<path>: <problem>; <fix>")`` squeezed onto one line, whatever the parts held."""
    message = f"{path}: {problem}; {fix}"
    return DatasetError(" ".join(message.split()))


@dataclass(frozen=True)
class Dataset:
    """Samples loaded from one source.

    ``inputs`` maps a model input name (``""`` for "the model's only input": a bare ``.npy``, an idx
    file, an image folder) to an array whose first axis is the sample axis; ``labels`` is int64 of
    shape ``(num_samples,)`` or None. ``class_names`` is the folder name of each class index for an
    image folder with one subfolder per class, else None.
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str
    num_samples: int
    class_names: tuple[str, ...] | None = None


def check_finite(path: str | Path, name: str, arr: np.ndarray) -> None:
    """Refuse NaN and infinities in a float array: they pass shape checks, then break calibration."""
    if arr.dtype.kind not in "fc":
        return
    finite = np.isfinite(arr)
    if finite.all():
        return
    nan = int(np.isnan(arr).sum())
    inf = int(arr.size - finite.sum()) - nan
    counts = " and ".join(part for part in (f"{nan} NaN" * bool(nan), f"{inf} infinite" * bool(inf)) if part)
    per_sample = finite.reshape(arr.shape[0], -1).all(axis=1) if arr.ndim else finite.reshape(1)
    bad = np.flatnonzero(~per_sample)
    first = ", ".join(str(int(i)) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
    shown = f"array '{name}'" if name else "the array"
    raise data_error(
        path,
        f"{shown} holds {counts} values (in {bad.size} of {per_sample.size} samples, at index {first})",
        "drop or repair those samples (keep x[np.isfinite(x).reshape(len(x), -1).all(axis=1)]) and save again",
    )


def check_limit(limit: object) -> int | None:
    """``limit`` must be None or a positive int (a bool is not a count)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or int(limit) < 1:
        raise DatasetError(f"limit must be a positive whole number of samples or None, not {limit!r}")
    return int(limit)


def evenly_spaced(total: int, limit: int | None) -> np.ndarray:
    """Indices of ``limit`` samples spread evenly over ``range(total)``, ascending; all when it fits.

    Evenly spaced rather than the first ``limit``: a class-sorted folder then still yields every
    class, and the same inputs always give the same subset.
    """
    if limit is None or limit >= total:
        return np.arange(total)
    return np.floor(np.arange(limit) * (total / limit)).astype(np.int64)
