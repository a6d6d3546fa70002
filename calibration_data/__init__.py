"""Small datasets that ship with edgeprof, and the loaders for a user's own data.

:func:`load_dataset` reads an ``.npz``/``.npy``, an idx file, a folder of images or a data spec
file (see README.md for the forms and the preprocessing spec).

``DIGITS_DIR`` holds the demo model's data: ``calib.npz`` (INT8 calibration) and ``eval.npz``
(held-out accuracy), preprocessed to the demo model's input. See README.md for the file contract.
Python 3.8-compatible: the agent may import it.
"""

from __future__ import annotations

from pathlib import Path

from calibration_data.dataset import Dataset, DatasetError
from calibration_data.idx import load_idx, read_idx
from calibration_data.image_folder import load_image_folder
from calibration_data.loaders import LABELS_KEY, load_dataset
from calibration_data.preprocess import Preprocess

__all__ = [
    "DIGITS_CALIB",
    "DIGITS_DIR",
    "DIGITS_EVAL",
    "LABELS_KEY",
    "Dataset",
    "DatasetError",
    "Preprocess",
    "load_dataset",
    "load_idx",
    "load_image_folder",
    "read_idx",
]

DIGITS_DIR = Path(__file__).resolve().parent / "digits"
DIGITS_CALIB = DIGITS_DIR / "calib.npz"
DIGITS_EVAL = DIGITS_DIR / "eval.npz"
