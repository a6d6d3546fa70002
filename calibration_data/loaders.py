"""Loading a user's calibration or evaluation data: the one entry point, and ``.npz`` / ``.npy`` files.

:func:`load_dataset` takes whatever a user points at and hands it to the loader of its form: an
``.npz``/``.npy`` (here), an idx file (``idx.py``), a folder of images (``image_folder.py``), or a
``.toml``/``.json`` data spec naming one of those with its preprocessing (``data_spec.py``).

The contract of ``.npz`` / ``.npy`` files:

* ``.npz``: one array per model input, named after that input, first axis = samples; plus an
  optional ``labels`` array (1-D integers, one class index per sample) for top-1 accuracy.
* ``.npy``: a single array for a model with a single input (first axis = samples). It comes back
  under the name ``""``, meaning "the model's only input"; binding names to the model is the caller's
  job (``pipeline.model_check.load_bound_dataset``).

Files are never unpickled (``allow_pickle=False``): an ``.npz`` may come from anyone. Float arrays
holding NaN or infinities are refused here, since they pass every shape check and then break
calibration. Every problem raises :class:`DatasetError` with one line that names the file, the
problem and the fix.

This module is shared with the agent, so it must run on Python 3.8 with only NumPy.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calibration_data.data_spec import load_data_spec
from calibration_data.dataset import Dataset, DatasetError, check_finite, check_limit, evenly_spaced
from calibration_data.dataset import data_error as _error
from calibration_data.idx import IDX_NAME, load_idx
from calibration_data.image_folder import load_image_folder
from calibration_data.spec_file import SPEC_SUFFIXES

if TYPE_CHECKING:
    from calibration_data.preprocess import PreprocessLike

__all__ = ["LABELS_KEY", "Dataset", "DatasetError", "load_dataset"]

#: Name of the optional array of class indices in an ``.npz``.
LABELS_KEY = "labels"

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members; an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_SAVE_HINT = "np.savez(path, <input_name>=array, labels=int_array)"
_GZIP_MAGIC = b"\x1f\x8b"
_FORMS = "an .npz or .npy file, an idx file (*-idx3-ubyte[.gz]), a folder of images, or a .toml/.json data spec"


def load_dataset(path: str | Path, preprocess: PreprocessLike = None, limit: int | None = None) -> Dataset:
    """Load calibration or evaluation samples from any supported form (see calibration_data/README.md).

    ``preprocess`` (a :class:`~calibration_data.preprocess.Preprocess`, a dict of its keys, or a
    ``.toml``/``.json`` file of them) applies to images: a folder or an idx file; an ``.npz`` holds
    inputs already preprocessed. ``limit`` keeps at most that many samples, spread evenly over the
    source's deterministic order.
    """
    p = Path(path)
    count = check_limit(limit)
    if p.is_dir():
        return load_image_folder(p, preprocess=preprocess, limit=count)
    if p.suffix.lower() in SPEC_SUFFIXES:
        return load_data_spec(p, preprocess=preprocess, limit=count)
    if IDX_NAME.search(p.name):
        return load_idx(p, preprocess=preprocess, limit=count)
    head = _read_head(p)
    if head.startswith(_ZIP_MAGICS + (_NPY_MAGIC,)) and preprocess is not None:
        raise _error(
            p,
            "a preprocessing spec applies to images (a folder or an idx file), but an .npz/.npy holds "
            "model inputs that are already preprocessed",
            "drop the preprocess argument, or point at the raw images",
        )
    if head.startswith(_ZIP_MAGICS):
        arrays = _load_npz(p)
    elif head.startswith(_NPY_MAGIC):
        arrays = {"": _load_npy(p)}
    elif p.suffix.lower() in (".npz", ".npy"):
        npz = p.suffix.lower() == ".npz"
        raise _error(
            p,
            f"is not a valid {p.suffix.lower()} file (it lacks the {'zip' if npz else 'NumPy'} "
            "signature: truncated, corrupt or another format)",
            f"write it again with {_SAVE_HINT if npz else 'np.save(path, array)'}",
        )
    elif head[:2] == b"\0\0" or head.startswith(_GZIP_MAGIC):
        raise _error(
            p,
            "looks like an IDX or gzip file but its name does not say which kind",
            "name it like MNIST (e.g. t10k-images-idx3-ubyte[.gz]) so the loader and the labels pairing know it",
        )
    else:
        raise _error(
            p,
            f"unsupported data file type '{p.suffix or '(no extension)'}'; expected {_FORMS}",
            f"save the samples with {_SAVE_HINT}",
        )
    return _build(p, arrays, count)


def _read_head(p: Path) -> bytes:
    if not p.exists():
        raise _error(p, "no such file", "check the path (relative paths are from the current directory)")
    try:
        with p.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise _error(p, f"cannot be read ({exc.strerror or exc})", "check its permissions") from None
    if not head:
        raise _error(p, "is empty (0 bytes)", f"write the data again with {_SAVE_HINT}")
    return head


def _load_npz(p: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        # Open the file here: np.load leaks its own handle when the zip turns out to be unreadable.
        with p.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            for name in npz.files:
                arr = npz[name]
                if not isinstance(arr, np.ndarray):
                    raise _error(
                        p,
                        f"member '{name}' of the zip is not a NumPy array",
                        f"an .npz should hold only arrays: save it with {_SAVE_HINT}",
                    )
                arrays[name] = arr
    except DatasetError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise _error(
                p,
                "holds an object (pickled) array, which is never loaded since unpickling can run code",
                "store plain numeric arrays (e.g. np.stack the samples into one float32 array)",
            ) from None
        raise _corrupt(p, exc, "npz (zip)") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, NotImplementedError) as exc:
        raise _corrupt(p, exc, "npz (zip)") from None
    if not arrays:
        raise _error(p, "holds no arrays", f"save the samples with {_SAVE_HINT}")
    return arrays


def _load_npy(p: Path) -> np.ndarray:
    try:
        with p.open("rb") as f:
            arr = np.load(f, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise _error(
                p,
                "holds an object (pickled) array, which is never loaded since unpickling can run code",
                "store a plain numeric array (e.g. np.stack the samples into one float32 array)",
            ) from None
        raise _corrupt(p, exc, "npy") from None
    except (OSError, EOFError) as exc:
        raise _corrupt(p, exc, "npy") from None
    return arr


def _corrupt(p: Path, exc: BaseException, kind: str) -> DatasetError:
    return _error(
        p,
        f"cannot be read as {kind}: it is truncated or corrupt ({type(exc).__name__}: {exc})",
        f"copy or write it again ({_SAVE_HINT})",
    )


def _build(p: Path, arrays: dict[str, np.ndarray], limit: int | None) -> Dataset:
    labels = arrays.pop(LABELS_KEY, None)
    if not arrays:
        raise _error(
            p,
            f"holds only a '{LABELS_KEY}' array and no model inputs",
            f"add one array per model input: {_SAVE_HINT}",
        )
    for name, arr in arrays.items():
        shown = f"array '{name}'" if name else "the array"
        if arr.dtype.kind not in "biuf":
            raise _error(
                p,
                f"{shown} has dtype {arr.dtype}, not numbers",
                "store the preprocessed model inputs as a numeric array (e.g. float32)",
            )
        if arr.ndim == 0:
            raise _error(
                p,
                f"{shown} is a scalar; it needs a first axis of samples",
                "stack the samples along axis 0 (shape [num_samples, ...])",
            )
    counts = {name: arr.shape[0] for name, arr in arrays.items()}
    if labels is not None:
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise _error(
                p,
                f"'{LABELS_KEY}' must be 1-D integers (one class index per sample) "
                f"but is {labels.dtype} of shape {list(labels.shape)}",
                f"save labels=np.asarray(y, dtype=np.int64).reshape(-1), or drop '{LABELS_KEY}'",
            )
        if labels.size and labels.min() < 0:
            raise _error(
                p,
                f"'{LABELS_KEY}' holds negative values (min {int(labels.min())}); labels are class indices",
                "store the index of the correct output class for each sample",
            )
        counts[LABELS_KEY] = labels.shape[0]
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"{name or '(array)'}={n}" for name, n in counts.items())
        raise _error(
            p,
            f"arrays disagree on the number of samples (first dimension: {listing})",
            "give every array, labels included, the same length along axis 0",
        )
    num = next(iter(counts.values()))
    if num == 0:
        raise _error(p, "holds 0 samples", "save at least one sample along axis 0")
    for name, arr in arrays.items():
        check_finite(p, name, arr)
    keep = evenly_spaced(num, limit)
    if keep.size < num:
        arrays = {name: arr[keep] for name, arr in arrays.items()}
        labels = None if labels is None else labels[keep]
    return Dataset(
        inputs=arrays,
        labels=None if labels is None else labels.astype(np.int64, copy=False),
        source=str(p),
        num_samples=int(keep.size),
    )
