"""The bundled demo model: a small CNN that classifies scikit-learn's 8x8 handwritten digits.

``digits_cnn.onnx`` (opset 17): input ``image`` float32 ``[batch, 1, 32, 32]`` (dynamic batch),
output ``logits`` float32 ``[batch, 10]``; about 189 MFLOPs per image (2 FLOPs per MAC), 0.54 M
parameters (2.2 MB). Its data, preprocessed to the model's input, lives in ``calibration_data/digits``:
``calib.npz`` (180 samples, for INT8 calibration) and ``eval.npz`` (540 held-out samples with
labels). Produced by ``scripts/train_demo_model.py``; see ``calibration_data/digits/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from calibration_data import DIGITS_CALIB, DIGITS_EVAL

__all__ = ["DEMO_CALIB_PATH", "DEMO_EVAL_PATH", "DEMO_INPUT_NAME", "DEMO_MODEL_PATH", "DEMO_OUTPUT_NAME"]

DEMO_MODEL_PATH: Path = Path(__file__).resolve().parent / "digits_cnn.onnx"
DEMO_CALIB_PATH: Path = DIGITS_CALIB
DEMO_EVAL_PATH: Path = DIGITS_EVAL
DEMO_INPUT_NAME = "image"
DEMO_OUTPUT_NAME = "logits"
