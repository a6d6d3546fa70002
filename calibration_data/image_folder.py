"""Loading a folder of image files as one preprocessed model input.

Two layouts, as torchvision's ``ImageFolder`` reads them:

* one subfolder per class (``val/cat/1.jpg``, ``val/dog/7.png``): the class index is the position
  of the subfolder's name in the sorted list of subfolder names (the ImageNet convention), and the
  dataset carries labels and ``class_names``; images may sit deeper inside a class folder;
* flat (``calib/0001.jpg``, ...): no labels, for calibration or fidelity-only evaluation.

Files are taken in sorted path order (class by class), so the same folder always gives the same
batch; ``limit`` keeps samples spread evenly over that order. Hidden entries and files without an
image extension are skipped. Pillow decodes the images and is imported only when they are loaded.
Python 3.8-compatible: the agent may import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calibration_data.dataset import Dataset, check_finite, check_limit, data_error, evenly_spaced
from calibration_data.preprocess import Preprocess, as_preprocess

if TYPE_CHECKING:
    from calibration_data.preprocess import PreprocessLike

__all__ = ["IMAGE_EXTENSIONS", "list_images", "load_image_folder"]

#: torchvision's ``IMG_EXTENSIONS``: the files a folder's images are recognised by (any case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def list_images(root: str | Path) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """``root``'s images in load order, each one's class index and the class names (both None when flat)."""
    p = Path(root)
    if not p.is_dir():
        raise data_error(p, "is not a folder", "pass a folder of images (flat, or one subfolder per class)")
    entries = sorted(e for e in p.iterdir() if not e.name.startswith("."))
    subfolders = [e for e in entries if e.is_dir()]
    top_images = [e for e in entries if e.is_file() and _is_image(e)]
    if subfolders and top_images:
        raise data_error(
            p,
            f"holds both images ({top_images[0].name}, ...) and subfolders ({subfolders[0].name}/, ...)",
            "put every image in its class's subfolder, or keep a flat folder of images only",
        )
    if not subfolders:
        if not top_images:
            others = sum(1 for e in entries if e.is_file())
            raise data_error(
                p,
                f"is a directory that holds no images ({others} other file(s); images end in "
                f"{', '.join(IMAGE_EXTENSIONS)})",
                "point at a folder of image files, or at an .npz file",
            )
        return top_images, None, None
    files: list[Path] = []
    labels: list[int] = []
    for index, folder in enumerate(subfolders):
        found = _walk_images(folder)
        if not found:
            raise data_error(
                folder,
                f"class folder '{folder.name}' holds no images, yet it takes class index {index}",
                "add its images or remove the folder (class indices follow the sorted folder names)",
            )
        files.extend(found)
        labels.extend([index] * len(found))
    return files, labels, tuple(f.name for f in subfolders)


def load_image_folder(root: str | Path, preprocess: PreprocessLike = None, limit: int | None = None) -> Dataset:
    """Decode and preprocess a folder's images into one input under ``""`` ("the model's only input").

    Without a spec the images are converted to RGB, scaled to [0, 1] and laid out float32 NCHW; they
    must then all have the same size (give ``resize`` and ``center_crop`` otherwise).
    """
    spec = as_preprocess(preprocess) or Preprocess()
    count = check_limit(limit)
    files, labels, classes = list_images(root)
    try:
        import PIL  # noqa: F401  (only to say early, and clearly, that it is missing)
    except ImportError:
        raise data_error(root, "reading images needs Pillow", "pip install pillow (or 'edgeprof[pipeline]')") from None
    keep = evenly_spaced(len(files), count)
    mode = spec.color_mode or "RGB"
    arrays = []
    for i in keep:
        arr = _decode(files[i], mode, spec)
        if arrays and arr.shape != arrays[0].shape:
            raise data_error(
                files[i],
                f"is {_size(arr)} after preprocessing but {files[keep[0]].name} is {_size(arrays[0])}",
                "give resize and center_crop in the preprocessing spec so that every image ends the same size",
            )
        arrays.append(arr)
    pixels = np.stack(arrays)
    if pixels.ndim == 3:  # grayscale: add the channel axis
        pixels = pixels[..., None]
    out = spec.normalise(pixels)
    check_finite(root, "", out)
    return Dataset(
        inputs={"": out},
        labels=None if labels is None else np.asarray(labels, dtype=np.int64)[keep],
        source=str(root),
        num_samples=int(out.shape[0]),
        class_names=classes,
    )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _walk_images(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.startswith(".") and _is_image(path):
                found.append(path)
    return sorted(found)


def _decode(path: Path, mode: str, spec: Preprocess) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")  # Pillow warns when a palette with transparency goes straight to RGB
            im = im.convert(mode)
    except Image.DecompressionBombError as exc:
        raise data_error(path, f"is too large to decode safely ({exc})", "downscale it before loading") from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise data_error(
            path, f"cannot be decoded as an image ({type(exc).__name__}: {exc})", "replace or remove the file"
        ) from None
    return np.asarray(spec.resize_and_crop(im, path))


def _size(arr: np.ndarray) -> str:
    return f"{arr.shape[0]}x{arr.shape[1]} (height x width)"
