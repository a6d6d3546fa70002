"""Loading IDX files, the format MNIST and Fashion-MNIST ship in (``*-idx3-ubyte``, often gzipped).

An IDX file is a 4-byte magic number (two zero bytes, an element-type code, the number of
dimensions), one big-endian uint32 per dimension, then the elements in big-endian C order. The
images file is ``[samples, rows, columns]``; its labels are a 1-D ``*-idx1-ubyte`` file found
beside it by the usual pairing (``t10k-images-idx3-ubyte`` -> ``t10k-labels-idx1-ubyte``, with or
without ``.gz``) or given explicitly. Every header field is checked against the file's length,
so a truncated download is refused instead of read as garbage.

Python 3.8-compatible with only NumPy (Pillow only to resize or crop): the agent may import it.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calibration_data.dataset import Dataset, check_finite, check_limit, data_error, evenly_spaced
from calibration_data.preprocess import Preprocess, as_preprocess

if TYPE_CHECKING:
    from calibration_data.preprocess import PreprocessLike

__all__ = ["IDX_NAME", "find_labels_file", "load_idx", "read_idx"]

#: How an IDX file is recognised by name: ``...idx3-ubyte`` or ``...idx1-ubyte``, maybe ``.gz``.
IDX_NAME = re.compile(r"idx(\d)-ubyte(\.gz)?$", re.IGNORECASE)

_GZIP_MAGIC = b"\x1f\x8b"
_ELEMENT_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TYPE_NAMES = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"
_REFETCH = "download or copy the file again (compare its size or sha256 with the source)"


def read_idx(path: str | Path) -> np.ndarray:
    """The array an IDX file holds, in native byte order; gzip is detected by its magic bytes."""
    p = Path(path)
    data = _read_bytes(p)
    if len(data) < 4:
        raise data_error(p, f"is {len(data)} bytes long, too short for an IDX header", _REFETCH)
    zero, code, ndim = data[0:2], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero != b"\0\0":
        raise data_error(
            p,
            f"is not an IDX file: magic number 0x{magic:08x} does not start with two zero bytes",
            "pass an MNIST-style *-idx3-ubyte[.gz] images file, or convert the data to .npz",
        )
    if code not in _ELEMENT_TYPES:
        raise data_error(
            p, f"magic number 0x{magic:08x} names unknown element type 0x{code:02x}", f"IDX knows {_TYPE_NAMES}"
        )
    if ndim == 0:
        raise data_error(p, f"magic number 0x{magic:08x} declares 0 dimensions", _REFETCH)
    named = IDX_NAME.search(p.name)
    if named and int(named.group(1)) != ndim:
        raise data_error(
            p,
            f"the name says idx{named.group(1)} but the header declares {ndim} dimension(s)",
            "check that images and labels files are not swapped or renamed",
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise data_error(p, f"is truncated inside its header ({len(data)} of {header_len} bytes)", _REFETCH)
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = np.dtype(_ELEMENT_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header_len
    shape = "x".join(str(d) for d in dims)
    if body < expected:
        raise data_error(
            p,
            f"is truncated: its header declares {shape} elements of {dtype.itemsize} byte(s) "
            f"({expected} bytes of data) but only {body} bytes follow",
            _REFETCH,
        )
    if body > expected:
        raise data_error(
            p,
            f"has {body - expected} bytes after the {shape} elements its header declares",
            f"the file is corrupt or not IDX: {_REFETCH}",
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def find_labels_file(images: str | Path) -> Path | None:
    """The labels file beside an images file by MNIST's naming (``images``->``labels``, ``idx3``->``idx1``)."""
    p = Path(images)
    if "images" not in p.name:
        return None
    name = re.sub(r"idx3", "idx1", p.name.replace("images", "labels"), flags=re.IGNORECASE)
    stem = name[:-3] if name.lower().endswith(".gz") else name
    for candidate in (name, stem + ".gz", stem):
        if (p.parent / candidate).is_file():
            return p.parent / candidate
    return None


def load_idx(
    images: str | Path,
    labels: str | Path | None = None,
    preprocess: PreprocessLike = None,
    limit: int | None = None,
) -> Dataset:
    """An idx3 images file (and its labels, given or found beside it) as one preprocessed input.

    The input comes back under ``""`` ("the model's only input"). Without a spec, the default is
    grayscale, scaled to [0, 1], float32 NCHW: MNIST's ``[N, 1, 28, 28]``.
    """
    p = Path(images)
    spec = as_preprocess(preprocess) or Preprocess()
    count = check_limit(limit)
    pixels = read_idx(p)
    if pixels.ndim != 3:
        hint = (
            "this looks like a labels file: pass the images file (*-images-idx3-ubyte), its labels are found beside it"
            if pixels.ndim == 1
            else "an images file is idx3: [samples, rows, columns]"
        )
        raise data_error(p, f"holds a {pixels.ndim}-D array of shape {list(pixels.shape)}, not images", hint)
    label_path = Path(labels) if labels is not None else find_labels_file(p)
    label_values = _read_labels(label_path, pixels.shape[0]) if label_path is not None else None
    keep = evenly_spaced(pixels.shape[0], count)
    pixels = pixels[keep]
    if pixels.dtype != np.uint8 and (spec.scale_to_unit or spec.needs_pillow):
        raise data_error(
            p,
            f"holds {pixels.dtype} elements, but scale_to_unit, resize and center_crop work on 8-bit pixels",
            "set scale_to_unit = false and drop resize/center_crop, or convert the data to .npz",
        )
    if spec.needs_pillow:
        pixels = _resize_all(p, pixels, spec)
    channels = spec.channels_for("L")
    batch = pixels[..., None]
    if channels == 3:
        batch = np.repeat(batch, 3, axis=-1)
    out = spec.normalise(batch)
    check_finite(p, "", out)
    return Dataset(
        inputs={"": out},
        labels=None if label_values is None else label_values[keep],
        source=str(p) if label_path is None else f"{p} (labels: {label_path.name})",
        num_samples=int(out.shape[0]),
    )


def _read_labels(path: Path, num_images: int) -> np.ndarray:
    values = read_idx(path)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise data_error(
            path,
            f"labels must be a 1-D integer idx1 file but this holds {values.dtype} of shape {list(values.shape)}",
            "pass the *-labels-idx1-ubyte file that belongs to the images",
        )
    if values.shape[0] != num_images:
        raise data_error(
            path,
            f"holds {values.shape[0]} labels but the images file holds {num_images} images",
            "pair the images with their own labels file (e.g. t10k-images with t10k-labels)",
        )
    if values.size and values.min() < 0:
        raise data_error(path, f"holds negative labels (min {int(values.min())})", "labels must be class indices")
    return values.astype(np.int64)


def _resize_all(p: Path, pixels: np.ndarray, spec: Preprocess) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise data_error(p, "resize and center_crop need Pillow", "pip install pillow") from None
    return np.stack([np.asarray(spec.resize_and_crop(Image.fromarray(img), p)) for img in pixels])


def _read_bytes(p: Path) -> bytes:
    if not p.is_file():
        raise data_error(p, "no such file", "check the path (relative paths are from the current directory)")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise data_error(p, f"cannot be read ({exc.strerror or exc})", "check its permissions") from None
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise data_error(p, f"is a truncated or corrupt gzip file ({type(exc).__name__}: {exc})", _REFETCH) from None
