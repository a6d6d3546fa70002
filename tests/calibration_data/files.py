"""Writers of real data files for the loader tests: IDX files and images (Pillow)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from calibration_data import DatasetError, load_dataset

_IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B}
_IDX_CODES.update({np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E})


def write_idx(path: Path, arr: np.ndarray, *, gz: bool | None = None) -> Path:
    """Write ``arr`` as an IDX file (big-endian); gzip it when the name ends in .gz (or ``gz`` says so)."""
    header = bytes([0, 0, _IDX_CODES[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    blob = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    if gz if gz is not None else path.name.endswith(".gz"):
        blob = gzip.compress(blob)
    path.write_bytes(blob)
    return path


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Save an [H, W, 3] or [H, W] uint8 array with Pillow, in the format the suffix names."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def solid(height: int, width: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, dtype=np.uint8), (height, width, 3)).copy()


def expect_error(path: Path, *fragments: str, **kwargs: object) -> str:
    """load_dataset(path, **kwargs) must raise one line naming ``path`` and every fragment."""
    with pytest.raises(DatasetError) as info:
        load_dataset(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message
