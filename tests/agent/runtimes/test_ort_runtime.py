"""ONNX Runtime backend on a real model: load, run, and translate vendor errors."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import InferenceError, RuntimeLoadError
from agent.runtimes import get_runtime, installed_runtimes
from agent.runtimes.base import LocalArtifact
from agent.runtimes.ort_runtime import ORTRuntime
from pipeline.demo_model import DEMO_MODEL_PATH

from .conformance import RuntimeConformance

DEMO = LocalArtifact.onnx(DEMO_MODEL_PATH)


class TestORTConformance(RuntimeConformance):
    runtime_class = ORTRuntime

    @pytest.fixture
    def artifact(self) -> LocalArtifact:
        return DEMO


def test_loads_and_runs_the_demo_model() -> None:
    with ORTRuntime() as rt:
        rt.load(DEMO)
        spec = rt.inputs[0]
        assert spec.name == "image" and spec.dtype == np.float32
        out = rt.infer({"image": np.zeros((3, 1, 32, 32), np.float32)})
        assert out[0].shape == (3, 10)


def test_corrupt_model_is_a_load_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(RuntimeLoadError, match="cannot load bad.onnx"):
        ORTRuntime().load(LocalArtifact.onnx(bad))


def test_wrong_input_shape_is_an_inference_error() -> None:
    rt = ORTRuntime()
    rt.load(DEMO)
    with pytest.raises(InferenceError, match="failed to run"):
        rt.infer({"image": np.zeros((1, 3, 28, 28), np.float32)})


def test_missing_execution_provider_is_named() -> None:
    rt = ORTRuntime({"providers": ["NoSuchExecutionProvider"]})
    with pytest.raises(RuntimeLoadError, match="NoSuchExecutionProvider"):
        rt.load(DEMO)


def test_registry() -> None:
    assert get_runtime("onnxruntime") is ORTRuntime
    assert "onnxruntime" in installed_runtimes()
    with pytest.raises(RuntimeLoadError, match="unknown runtime"):
        get_runtime("nope")


def test_the_profiler_runs_in_its_own_session_and_sums_by_operator_type() -> None:
    rt = ORTRuntime({"intra_op_num_threads": 1})
    rt.load(LocalArtifact.onnx(DEMO_MODEL_PATH))
    feeds = [{"image": np.zeros((2, 1, 32, 32), np.float32)}]

    profile = rt.layer_profile(feeds, 4)

    assert [layer.op_type for layer in profile][0] == "Conv"
    assert {"Conv", "MaxPool"} <= {layer.op_type for layer in profile}
    assert profile[0].nodes >= 2 and profile[0].time_ms > 0
    assert all(layer.detail == "CPUExecutionProvider" for layer in profile)
    assert rt.infer(feeds[0])[0].shape == (2, 10)  # the timed session is untouched
