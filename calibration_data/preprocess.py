"""How raw pixels become model inputs: the preprocessing spec and the code that applies it.

The order is torchvision's classic evaluation transform: resize the shorter side, center-crop,
convert the colour mode, scale 0–255 to [0, 1] (``ToTensor``), subtract the mean and divide by the
std per channel (``Normalize``), then lay the batch out as NCHW or NHWC in the output dtype.

A spec is a :class:`Preprocess`, a dict with the same keys, or a ``.toml``/``.json`` file holding
them; an unknown key is an error that names it. Pillow is needed only for resizing and cropping,
and is imported inside the function that does it. Python 3.8-compatible: the agent may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calibration_data.dataset import DatasetError, data_error
from calibration_data.spec_file import read_spec_file, reject_unknown_keys

__all__ = ["COLOR_MODES", "LAYOUTS", "OUTPUT_DTYPES", "Preprocess", "PreprocessLike", "as_preprocess"]

LAYOUTS = ("NCHW", "NHWC")
COLOR_MODES = {"RGB": 3, "L": 1}  # Pillow's mode names: channels per pixel
OUTPUT_DTYPES = ("float32", "float16", "uint8")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos")


@dataclass(frozen=True)
class Preprocess:
    """Preprocessing of images into one model input; the defaults give float32 NCHW in [0, 1].

    ``resize``: shorter side in pixels (aspect ratio kept), or None. ``center_crop``: (height, width)
    in pixels (an int means a square), or None. ``color_mode``: "RGB" or "L" (grayscale); None
    keeps the source's: RGB for image files, L for idx files. ``scale_to_unit``: divide 8-bit
    pixels by 255. ``mean``/``std``: one value per channel, or one for all, applied after scaling.
    """

    resize: int | None = None
    center_crop: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    color_mode: str | None = None
    scale_to_unit: bool = True
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "NCHW"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _set = object.__setattr__
        if self.resize is not None:
            _set(self, "resize", _positive_int("resize", self.resize))
        if self.center_crop is not None:
            _set(self, "center_crop", _crop_size(self.center_crop))
        _set(self, "interpolation", _choice("interpolation", self.interpolation, INTERPOLATIONS, str.lower))
        if self.color_mode is not None:
            _set(self, "color_mode", _choice("color_mode", self.color_mode, tuple(COLOR_MODES), str.upper))
        if not isinstance(self.scale_to_unit, bool):
            raise _bad("scale_to_unit", self.scale_to_unit, "true or false")
        _set(self, "mean", _floats("mean", self.mean))
        _set(self, "std", _floats("std", self.std))
        if any(s <= 0 for s in self.std):
            raise _bad("std", list(self.std), "positive numbers (each channel is divided by its std)")
        _set(self, "layout", _choice("layout", self.layout, LAYOUTS, str.upper))
        _set(self, "dtype", _choice("dtype", self.dtype, OUTPUT_DTYPES, str.lower))
        if self.color_mode is not None:
            self.check_channels(COLOR_MODES[self.color_mode])
        if self.dtype == "uint8" and (self.scale_to_unit or set(self.mean) != {0.0} or set(self.std) != {1.0}):
            raise DatasetError(
                "preprocess: dtype 'uint8' keeps raw 0-255 pixels, so it needs scale_to_unit = false, mean = [0] "
                "and std = [1]; use dtype 'float32' for scaled or normalised inputs"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], source: str | Path | None = None) -> Preprocess:
        """Build from a dict; unknown keys raise :class:`DatasetError` naming them (and ``source``, a file)."""
        known = tuple(f.name for f in fields(cls))
        reject_unknown_keys(source or "preprocess", dict(table), known, "preprocess")
        try:
            return cls(**dict(table))
        except DatasetError as exc:
            if source is None:
                raise
            raise DatasetError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Preprocess:
        """Read a ``.toml``/``.json`` file holding only preprocessing keys."""
        table = read_spec_file(path)
        if "source" in table:
            raise DatasetError(
                f"{path}: has a 'source' key, so it is a data spec, not a preprocessing spec; "
                "pass it as the data path (load_dataset(spec_file)) instead"
            )
        return cls.from_mapping(table, source=path)

    def channels_for(self, source_mode: str) -> int:
        """Channels per pixel of the output, given the source's own mode ("RGB" or "L")."""
        return COLOR_MODES[self.color_mode or source_mode]

    def check_channels(self, channels: int) -> None:
        """``mean``/``std`` hold one value for all channels or one per channel."""
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, channels):
                raise DatasetError(
                    f"preprocess: {name} has {len(values)} values but the images have {channels} channel(s) "
                    f"({self.color_mode or 'the source mode'}); give {channels} values or 1 for all"
                )

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels [N, H, W, C] (uint8, or numbers when ``scale_to_unit`` is off) -> the model input batch."""
        self.check_channels(pixels.shape[-1])
        if self.dtype == "uint8":
            out = pixels.astype(np.uint8, copy=False)
        else:
            out = pixels.astype(np.float32)
            if self.scale_to_unit:
                out /= 255.0
            out -= np.asarray(self.mean, dtype=np.float32)
            out /= np.asarray(self.std, dtype=np.float32)
            out = out.astype(self.dtype, copy=False)
        if self.layout == "NCHW":
            out = out.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out)

    def resize_and_crop(self, image: Any, where: str | Path) -> Any:
        """Apply ``resize`` and ``center_crop`` to a Pillow image from ``where``; the crop must fit inside."""
        from PIL import Image

        resampling = getattr(Image, "Resampling", Image)  # Pillow >= 9.1 moved the constants there
        if self.resize is not None:
            width, height = image.size
            short, long = (width, height) if width <= height else (height, width)
            new_long = int(self.resize * long / short)  # torchvision's rounding for Resize(int)
            size = (self.resize, new_long) if width <= height else (new_long, self.resize)
            if size != image.size:
                image = image.resize(size, getattr(resampling, self.interpolation.upper()))
        if self.center_crop is not None:
            crop_h, crop_w = self.center_crop
            width, height = image.size
            if crop_h > height or crop_w > width:
                raise data_error(
                    where,
                    f"center_crop {crop_h}x{crop_w} (height x width) is larger than the image "
                    f"({height}x{width} after resize)",
                    "set resize to at least the crop size, or a smaller center_crop",
                )
            top = int(round((height - crop_h) / 2.0))
            left = int(round((width - crop_w) / 2.0))
            image = image.crop((left, top, left + crop_w, top + crop_h))
        return image

    @property
    def needs_pillow(self) -> bool:
        """Resizing and cropping need Pillow; the rest is NumPy."""
        return self.resize is not None or self.center_crop is not None


if TYPE_CHECKING:  # annotations only: Python 3.8 cannot evaluate this at run time
    PreprocessLike = Preprocess | Mapping[str, Any] | str | Path | None


def as_preprocess(value: PreprocessLike, default: Preprocess | None = None) -> Preprocess | None:
    """Accept a :class:`Preprocess`, a dict of its keys, or a ``.toml``/``.json`` file; None -> ``default``."""
    if value is None:
        return default
    if isinstance(value, Preprocess):
        return value
    if isinstance(value, (str, Path)):
        return Preprocess.from_file(value)
    if isinstance(value, Mapping):
        return Preprocess.from_mapping(value)
    raise DatasetError(
        f"preprocess must be a Preprocess, a dict or a .toml/.json file path, not {type(value).__name__}"
    )


def _bad(key: str, value: Any, expected: str) -> DatasetError:
    return DatasetError(f"preprocess: {key} = {value!r} is not valid; expected {expected}")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise _bad(key, value, "a positive whole number of pixels")
    return int(value)


def _crop_size(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _bad("center_crop", value, "one size in pixels or [height, width]")
        return (_positive_int("center_crop", value[0]), _positive_int("center_crop", value[1]))
    size = _positive_int("center_crop", value)
    return (size, size)


def _choice(key: str, value: Any, allowed: tuple[str, ...], fold: Any) -> str:
    if not isinstance(value, str) or fold(value) not in allowed:
        raise _bad(key, value, "one of " + ", ".join(repr(a) for a in allowed))
    return str(fold(value))


def _floats(key: str, value: Any) -> tuple[float, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in items):
        raise _bad(key, value, "a number or a list of numbers, one per channel")
    floats = tuple(float(v) for v in items)
    if not all(np.isfinite(floats)):
        raise _bad(key, value, "finite numbers")
    return floats
