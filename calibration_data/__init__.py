"""Small datasets that ship with edgeprof, and the loader for a user's own ``.npz`` / ``.npy`` data.

``DIGITS_DIR`` holds the demo model's data: ``calib.npz`` (INT8 calibration) and ``eval.npz``
(held-out accuracy), preprocessed to the demo model's input. See README.md for the file contract.
Python 3.8-compatible: the agent may import it.
"""

from __future__ import annotations

from pathlib import Path

from calibration_data.loaders import LABELS_KEY, Dataset, DatasetError, load_dataset

__all__ = [
    "DIGITS_CALIB",
    "DIGITS_DIR",
    "DIGITS_EVAL",
    "LABELS_KEY",
    "Dataset",
    "DatasetError",
    "load_dataset",
]

DIGITS_DIR = Path(__file__).resolve().parent / "digits"
DIGITS_CALIB = DIGITS_DIR / "calib.npz"
DIGITS_EVAL = DIGITS_DIR / "eval.npz"
