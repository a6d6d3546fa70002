"""Fixtures for the pass tests: the tiny CNN, and the external mnist-cnn case with its images."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from .models import MNIST_DIR, MNIST_IMAGES, MNIST_MODEL, build_tiny_cnn


@pytest.fixture
def tiny_cnn(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``tiny_cnn(opset=17, batch="batch")`` writes the tiny CNN under tmp_path, returns its path."""

    def make(opset: int = 17, batch: int | str = "batch") -> Path:
        return build_tiny_cnn(tmp_path / f"tiny-opset{opset}-b{batch}.onnx", opset=opset, batch=batch)

    return make


@pytest.fixture(scope="session")
def mnist_model() -> Path:
    """The external opset 11 mnist-cnn model (read in place, never copied into the repo)."""
    if not MNIST_MODEL.is_file():
        pytest.skip(f"mnist-cnn evaluation case not found at {MNIST_DIR} (it lives in ../shared/eval/)")
    return MNIST_MODEL


@pytest.fixture(scope="session")
def mnist_images() -> np.ndarray:
    """All 10,000 MNIST test images as float32 [N, 1, 28, 28], normalised as the case's README says."""
    if not MNIST_IMAGES.is_file():
        pytest.skip(f"MNIST test images not found at {MNIST_IMAGES} (they live in ../shared/eval/)")
    raw = gzip.decompress(MNIST_IMAGES.read_bytes())
    magic, count, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in range(0, 16, 4))
    assert magic == 2051, "not an idx3 image file"
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 1, rows, cols)
    return ((pixels.astype(np.float32) / 255.0) - 0.5) / 0.5


@pytest.fixture(scope="session")
def mnist_calibration(mnist_images: np.ndarray) -> dict[str, np.ndarray]:
    """Calibration set: the first 100 test images (evaluation uses images 1000 onwards)."""
    return {"input": mnist_images[:100]}


@pytest.fixture(scope="session")
def mnist_eval(mnist_images: np.ndarray) -> np.ndarray:
    """Evaluation set: 300 images disjoint from the calibration set."""
    return mnist_images[1000:1300]


@pytest.fixture(scope="session")
def mnist_opset17(mnist_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mnist-cnn converted to opset 17 by OpsetUpgrade (shared by the tests that need it)."""
    from pipeline.passes.base import PassContext
    from pipeline.passes.opset_upgrade import OpsetUpgrade

    out = tmp_path_factory.mktemp("mnist") / "mnist-opset17.onnx"
    OpsetUpgrade({"target_opset": 17}).run(mnist_model, out, PassContext())
    return out
