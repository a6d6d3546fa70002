"""TensorRT backend on a real GPU: the fake-free counterpart of ``test_trt_runtime.py``.

Skipped where TensorRT or a CUDA backend is missing (this project's CI machine has no GPU, and
TensorRT's wheels need one); run on a Jetson or a GPU server with ``pytest -m tensorrt``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from agent.errors import RuntimeLoadError
from agent.runtimes.base import LocalArtifact
from agent.runtimes.cuda_mem import open_backend
from agent.runtimes.trt_build_recipe import SETTINGS_KEY, ShapeProfile, TRTBuildRecipe
from agent.runtimes.trt_runtime import TRTRuntime
from pipeline.demo_model import DEMO_INPUT_NAME, DEMO_MODEL_PATH

from .conformance import demo_images, ort_reference

pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module", autouse=True)
def real_gpu() -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed here (it needs an NVIDIA GPU): run on a Jetson or GPU server")
    try:
        open_backend().close()
    except RuntimeLoadError as exc:
        pytest.skip(f"no CUDA backend works here: {exc}")


@pytest.mark.parametrize(("precision", "atol"), [("fp32", 1e-3), ("fp16", 5e-2)])
def test_builds_caches_and_agrees_with_onnx_runtime(tmp_path: Path, precision: str, atol: float) -> None:
    profile = {DEMO_INPUT_NAME: ShapeProfile((1, 1, 32, 32), (8, 1, 32, 32), (16, 1, 32, 32))}
    settings = {SETTINGS_KEY: TRTBuildRecipe(precision=precision, profile=profile).to_settings()}
    artifact = LocalArtifact("tensorrt-recipe", {"model": DEMO_MODEL_PATH}, settings)
    images = demo_images(8)

    for expect_cached in (False, True):
        with TRTRuntime({"engine_cache_dir": str(tmp_path)}) as rt:
            rt.load(artifact)
            (logits,) = rt.infer({DEMO_INPUT_NAME: images})
            assert rt.settings()["engine"]["from_cache"] is expect_cached

    np.testing.assert_allclose(logits, ort_reference(images), atol=atol, rtol=0)
