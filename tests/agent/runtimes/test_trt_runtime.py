"""TensorRT backend against a fake ``tensorrt`` of each API line (8.6, 10.x) and a fake GPU.

The production runtime, recipe reader, engine cache and API-line code run unchanged; only the GPU
and TensorRT itself are stand-ins (see ``fake_tensorrt.py``). Everything runs twice, once per line.
The same checks on real hardware are in ``test_trt_runtime_gpu.py`` (skipped without TensorRT).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.errors import InferenceError, RuntimeLoadError
from agent.runtimes.base import LocalArtifact
from agent.runtimes.cuda_mem import CUDA_BACKENDS
from agent.runtimes.engine_cache import cache_key
from agent.runtimes.trt_build_recipe import SETTINGS_KEY, ShapeProfile, TRTBuildRecipe
from agent.runtimes.trt_runtime import TRTRuntime
from pipeline.demo_model import DEMO_INPUT_NAME, DEMO_MODEL_PATH

from . import fake_gpu
from .conformance import RuntimeConformance, demo_images, ort_reference
from .fake_tensorrt import make_tensorrt

LINES = ("8.6.1", "10.3.0")
DEMO_PROFILE = {DEMO_INPUT_NAME: ShapeProfile((1, 1, 32, 32), (8, 1, 32, 32), (16, 1, 32, 32))}
FAKE = {"cuda_backend": "fake"}


def recipe_artifact(**fields: Any) -> LocalArtifact:
    fields.setdefault("precision", "fp32")
    fields.setdefault("profile", DEMO_PROFILE)
    recipe = TRTBuildRecipe(**fields)
    return LocalArtifact("tensorrt-recipe", {"model": DEMO_MODEL_PATH}, {SETTINGS_KEY: recipe.to_settings()})


def install(monkeypatch: pytest.MonkeyPatch, version: str, **board: Any) -> Any:
    module = make_tensorrt(version, **board)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


@pytest.fixture(autouse=True, params=LINES)
def trt_line(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh fake GPU, the fake CUDA backend registered, a fake TensorRT of one line, HOME in tmp."""
    fake_gpu.GPU = fake_gpu.FakeGPU()
    CUDA_BACKENDS.register("fake", "tests.agent.runtimes.fake_gpu:FakeCudaBackend")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default engine cache lives under it
    install(monkeypatch, request.param)
    yield request.param
    CUDA_BACKENDS.unregister("fake")


class TestTRTConformance(RuntimeConformance):
    runtime_class = TRTRuntime
    options = FAKE

    @pytest.fixture
    def artifact(self) -> LocalArtifact:
        return recipe_artifact()


def loaded(artifact: LocalArtifact | None = None, **options: Any) -> TRTRuntime:
    runtime = TRTRuntime({**FAKE, **options})
    runtime.load(artifact or recipe_artifact())
    return runtime


def test_each_line_runs_through_its_own_api(trt_line: str) -> None:
    with loaded() as rt:
        rt.infer({DEMO_INPUT_NAME: demo_images(4)})
        settings = rt.settings()

    calls = fake_gpu.GPU.calls
    if trt_line.startswith("8."):
        assert "execute_async_v2" in calls and "execute_async_v3" not in calls
        assert "bindings + execute_async_v2" in settings["api"]
    else:
        assert "execute_async_v3" in calls and "execute_async_v2" not in calls
        assert "execute_async_v3" in settings["api"]
    assert settings["api"].startswith("tensorrt " + trt_line)


def test_the_engine_is_built_once_then_served_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "engines"
    with loaded(engine_cache_dir=str(cache)) as first:
        built = first.settings()["engine"]
    with loaded(engine_cache_dir=str(cache)) as second:
        reused = second.settings()["engine"]
        (logits,) = second.infer({DEMO_INPUT_NAME: demo_images(8)})

    assert fake_gpu.GPU.calls.count("build") == 1
    assert built["from_cache"] is False and reused["from_cache"] is True
    assert built["cache_key"] == reused["cache_key"]
    assert built["build_s"] >= 0 and built["size_bytes"] == (cache / (built["cache_key"] + ".engine")).stat().st_size
    assert reused["build_s"] == built["build_s"]  # the build's own figure, kept with the engine
    np.testing.assert_allclose(logits, ort_reference(demo_images(8)), atol=1e-4)


def test_the_cache_key_changes_with_the_recipe_the_gpu_and_the_tensorrt_release() -> None:
    base = cache_key("recipe-a", "NVIDIA A100-SXM4-80GB", (8, 0), "10.3.0")

    assert cache_key("recipe-a", "NVIDIA A100-SXM4-80GB", (8, 0), "10.3.0") == base
    others = [
        cache_key("recipe-b", "NVIDIA A100-SXM4-80GB", (8, 0), "10.3.0"),
        cache_key("recipe-a", "NVIDIA H100 80GB HBM3", (8, 0), "10.3.0"),
        cache_key("recipe-a", "NVIDIA A100-SXM4-80GB", (9, 0), "10.3.0"),
        cache_key("recipe-a", "NVIDIA A100-SXM4-80GB", (8, 0), "10.4.0"),
    ]
    assert len({base, *others}) == 5


def test_another_gpu_or_release_or_recipe_builds_its_own_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trt_line: str
) -> None:
    cache = str(tmp_path / "engines")
    keys = set()
    for change in ("none", "gpu", "release", "recipe"):
        if change == "gpu":
            fake_gpu.GPU.name, fake_gpu.GPU.capability = "NVIDIA Fake Xavier", (7, 2)
        if change == "release":
            install(monkeypatch, trt_line.rsplit(".", 1)[0] + ".9")
        artifact = recipe_artifact(precision="fp16") if change == "recipe" else recipe_artifact()
        with loaded(artifact, engine_cache_dir=cache) as rt:
            keys.add(rt.settings()["engine"]["cache_key"])

    assert len(keys) == 4 and fake_gpu.GPU.calls.count("build") == 4
    assert len(list(Path(cache).glob("*.engine"))) == 4


def test_an_engine_the_installed_release_cannot_read_is_built_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trt_line: str
) -> None:
    cache = tmp_path / "engines"
    with loaded(engine_cache_dir=str(cache)) as rt:
        key = rt.settings()["engine"]["cache_key"]
    # the same key, an engine TensorRT refuses (as after a driver/TensorRT change behind our back)
    meta = json.loads((cache / f"{key}.json").read_text())
    (cache / f"{key}.engine").write_bytes(b"x" * meta["size_bytes"])

    with loaded(engine_cache_dir=str(cache)) as rt:
        settings = rt.settings()
        rt.infer({DEMO_INPUT_NAME: demo_images(2)})

    assert fake_gpu.GPU.calls.count("build") == 2
    assert settings["engine"]["from_cache"] is False
    assert "did not deserialize" in settings["notes"][0]


def test_gpu_compute_time_and_the_trtexec_lines_are_recorded_per_batch() -> None:
    with loaded() as rt:
        for batch in (1, 8, 8):
            rt.infer({DEMO_INPUT_NAME: demo_images(batch)})
        settings = rt.settings()

    assert settings["gpu_compute_ms"]["1"]["queries"] == 1 and settings["gpu_compute_ms"]["8"]["queries"] == 2
    assert settings["gpu_compute_ms"]["8"]["p99"] >= 0
    assert settings["trtexec"]["b8"] == (
        "trtexec --onnx=model.onnx --minShapes=image:1x1x32x32 --optShapes=image:8x1x32x32 "
        "--maxShapes=image:16x1x32x32 --shapes=image:8x1x32x32 --noTF32"
    )
    assert settings["trtexec"]["build"] == (
        "trtexec --onnx=model.onnx --saveEngine=model.engine --minShapes=image:1x1x32x32 "
        "--optShapes=image:8x1x32x32 --maxShapes=image:16x1x32x32 --noTF32"
    )
    assert settings["cuda_backend"] == "fake" and settings["gpu"] == fake_gpu.GPU.name
    assert settings["compute_capability"] == "8.7" and settings["builder_flags"] == ["no-tf32"]
    assert json.loads(json.dumps(settings)) == settings


def test_precision_flags_reach_the_builder() -> None:
    with loaded(recipe_artifact(precision="best", tf32=True)) as rt:
        flags = json.loads(Path(rt.cache_dir / (rt.settings()["engine"]["cache_key"] + ".engine")).read_bytes())[
            "flags"
        ]

    assert flags == ["FP16", "INT8", "TF32"]


def test_cuda_graph_is_captured_once_per_shape_and_replayed() -> None:
    with loaded(use_cuda_graph=True) as rt:
        images = demo_images(8)
        outputs = [rt.infer({DEMO_INPUT_NAME: images})[0] for _ in range(3)]
        rt.infer({DEMO_INPUT_NAME: demo_images(1)})
        settings = rt.settings()

    calls = fake_gpu.GPU.calls
    assert calls.count("capture") == 2 and calls.count("graph_launch") == 4
    for logits in outputs:
        np.testing.assert_allclose(logits, ort_reference(images), atol=1e-4)
    assert settings["cuda_graph"] is True and settings["trtexec"]["b8"].endswith("--noTF32 --useCudaGraph")


def test_a_batch_outside_the_profile_names_the_profile() -> None:
    with loaded() as rt, pytest.raises(InferenceError, match=r"batch of 1\.\.16.*--batch"):
        rt.infer({DEMO_INPUT_NAME: np.zeros((17, 1, 32, 32), np.float32)})


def test_dla_layers_that_fall_back_to_the_gpu_are_reported(monkeypatch: pytest.MonkeyPatch, trt_line: str) -> None:
    install(monkeypatch, trt_line, dla_cores=2, dla_unsupported=frozenset({"GlobalAveragePool", "Flatten"}))

    with loaded(recipe_artifact(precision="fp16", dla_core=1)) as rt:
        dla = rt.settings()["dla"]
        (logits,) = rt.infer({DEMO_INPUT_NAME: demo_images(4)})

    assert dla["core"] == 1 and dla["cores_on_device"] == 2 and dla["gpu_fallback"] is True
    assert dla["layers"] == 15 and dla["layers_on_gpu"] == 2
    assert [name.rsplit("/", 1)[-1] for name in dla["gpu_fallback_layers"]] == ["GlobalAveragePool", "Flatten"]
    assert "can_run_on_DLA" in dla["source"]
    assert logits.shape == (4, 10)


def test_dla_without_gpu_fallback_refuses_the_layers_it_cannot_run(
    monkeypatch: pytest.MonkeyPatch, trt_line: str
) -> None:
    install(monkeypatch, trt_line, dla_cores=2, dla_unsupported=frozenset({"Gemm"}))

    with pytest.raises(RuntimeLoadError, match="1 layer.*cannot run on the DLA.*GPU fallback is off"):
        loaded(recipe_artifact(precision="fp16", dla_core=0, gpu_fallback=False))


def test_a_dla_core_the_board_does_not_have_is_refused() -> None:
    with pytest.raises(RuntimeLoadError, match="DLA core 0 but this device has 0 DLA core"):
        loaded(recipe_artifact(precision="int8-static", dla_core=0))


def test_a_network_without_a_profile_for_its_dynamic_batch_does_not_build() -> None:
    with pytest.raises(RuntimeLoadError, match="could not build the engine: Network has dynamic or shape inputs"):
        loaded(recipe_artifact(profile={}))


@pytest.mark.parametrize(
    ("version", "message"),
    [("8.4.3", "not supported.*8.5, 8.6 and 10.x"), ("11.1.0", "TensorRT 11 removed the FP16/INT8 builder flags")],
)
def test_releases_outside_the_supported_lines_are_refused(
    monkeypatch: pytest.MonkeyPatch, version: str, message: str
) -> None:
    install(monkeypatch, version)

    with pytest.raises(RuntimeLoadError, match=message):
        TRTRuntime.version()


def test_missing_tensorrt_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)

    with pytest.raises(RuntimeLoadError, match="tensorrt is not installed.*JetPack"):
        TRTRuntime.version()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"streams": 2}, "no runtime option 'streams'"),
        ({"cuda_backend": "opencl"}, "cuda_backend must be auto or one of"),
        ({"use_cuda_graph": "yes"}, "use_cuda_graph must be true or false"),
        ({"device": -1}, "device must be a GPU index"),
    ],
)
def test_bad_options_are_refused_with_the_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RuntimeLoadError, match=message):
        TRTRuntime(options)


def test_a_recipe_of_another_schema_or_none_at_all_is_refused() -> None:
    bad = LocalArtifact("tensorrt-recipe", {"model": DEMO_MODEL_PATH}, {SETTINGS_KEY: {"schema": 99}})
    with pytest.raises(RuntimeLoadError, match="schema 99"):
        TRTRuntime(FAKE).load(bad)
    with pytest.raises(RuntimeLoadError, match="no 'tensorrt_recipe' settings"):
        TRTRuntime(FAKE).load(LocalArtifact("tensorrt-recipe", {"model": DEMO_MODEL_PATH}))


def test_the_worker_points_the_cache_at_the_agent_state_unless_the_job_names_one(tmp_path: Path) -> None:
    rt = TRTRuntime(FAKE)
    rt.set_cache_dir(tmp_path / "state" / "trt-engines")
    named = TRTRuntime({**FAKE, "engine_cache_dir": str(tmp_path / "mine")})
    named.set_cache_dir(tmp_path / "state" / "trt-engines")

    assert rt.cache_dir == tmp_path / "state" / "trt-engines"
    assert named.cache_dir == tmp_path / "mine"
