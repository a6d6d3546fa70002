"""OpenVINO backend on the demo model (as ONNX and as an IR), both Python APIs, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from agent.errors import RuntimeLoadError
from agent.runtimes.base import LocalArtifact
from agent.runtimes.ort_runtime import usable_cpus
from agent.runtimes.ov_runtime import OVRuntime
from pipeline.demo_model import DEMO_INPUT_NAME, DEMO_MODEL_PATH

from .conformance import RuntimeConformance, demo_images, ort_reference

REPO = Path(__file__).resolve().parents[3]
DEMO = LocalArtifact.onnx(DEMO_MODEL_PATH)
#: strict FP32, so that the comparison with ONNX Runtime holds on AMX CPUs (bf16 by default) too
STRICT = {"inference_precision": "f32"}
#: OpenVINO's fused kernels sum in another order than ONNX Runtime's: logits differ in the 6th digit
ATOL = 1e-3


def convert_to_ir(onnx_path: Path, out_dir: Path) -> LocalArtifact:
    """The demo model as an FP32 IR, converted here with openvino itself (not the pipeline's pass)."""
    import openvino as ov

    xml = out_dir / "model.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
    return LocalArtifact("openvino-ir", {"model": xml, "weights": xml.with_suffix(".bin")})


@pytest.mark.openvino
class TestOVConformanceONNX(RuntimeConformance):
    runtime_class = OVRuntime
    options = STRICT
    atol = ATOL

    @pytest.fixture
    def artifact(self) -> LocalArtifact:
        return DEMO


@pytest.mark.openvino
class TestOVConformanceIR(RuntimeConformance):
    runtime_class = OVRuntime
    options = STRICT
    atol = ATOL

    @pytest.fixture
    def artifact(self, tmp_path: Path) -> LocalArtifact:
        return convert_to_ir(DEMO_MODEL_PATH, tmp_path)


@pytest.mark.openvino
def test_settings_are_read_back_from_the_compiled_model() -> None:
    with OVRuntime() as rt:
        rt.load(DEMO)
        settings = rt.settings()

    assert settings["api"].startswith("openvino ") and settings["api"].endswith("(ov.Core)")
    assert settings["execution_devices"] == ["CPU"]
    assert settings["execution_devices_source"] == "compiled model"
    assert settings["performance_hint"] == "LATENCY"
    assert isinstance(settings["num_streams"], int) and settings["num_streams"] >= 1
    # threads are set explicitly, never left to the plugin
    assert settings["requested"]["INFERENCE_NUM_THREADS"] == str(usable_cpus())
    assert settings["inference_num_threads"] == usable_cpus()
    assert settings["not_reported"] == []


@pytest.mark.openvino
def test_default_precision_is_what_the_plugin_chose_not_what_was_assumed() -> None:
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    with OVRuntime() as rt:
        rt.load(DEMO)
        settings = rt.settings()

    assert "INFERENCE_PRECISION_HINT" not in settings["requested"]
    if "BF16" in capabilities:  # AMX Xeons run "FP32" models in bf16 by default
        assert settings["inference_precision"] in ("bf16", "f32")
    else:
        assert settings["inference_precision"] == "f32"


@pytest.mark.openvino
def test_strict_fp32_is_honoured_and_recorded() -> None:
    with OVRuntime(STRICT) as rt:
        rt.load(DEMO)
        settings = rt.settings()

    assert settings["requested"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert settings["inference_precision"] == "f32"
    # and the plugin's runtime graph agrees: every convolution and matmul kernel runs in f32
    assert set(settings["compute_layer_precisions"]) == {"f32"}


@pytest.mark.openvino
def test_throughput_hint_streams_and_threads_are_applied() -> None:
    streams = min(2, usable_cpus())
    options = {"performance_hint": "throughput", "num_streams": streams, "num_requests": 4}
    with OVRuntime(options) as rt:
        rt.load(DEMO)
        settings = rt.settings()
        (logits,) = rt.infer({DEMO_INPUT_NAME: demo_images(4)})

    assert settings["performance_hint"] == "THROUGHPUT"
    assert settings["num_streams"] == streams
    assert settings["num_requests"] == 4
    assert logits.shape == (4, 10)


@pytest.mark.openvino
def test_the_record_says_what_the_plugin_did_when_it_overrides_a_request() -> None:
    # two streams cannot share one thread: the CPU plugin runs one and says so
    with OVRuntime({"num_streams": 2, "inference_num_threads": 1}) as rt:
        rt.load(DEMO)
        settings = rt.settings()

    assert settings["requested"]["NUM_STREAMS"] == "2"
    assert settings["inference_num_threads"] == 1
    assert settings["num_streams"] == 1


@pytest.mark.openvino
def test_outputs_come_back_in_model_order(tmp_path: Path) -> None:
    # setup: two outputs whose names sort the other way round
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    nodes = [
        helper.make_node("Add", ["x", "one"], ["z_first"]),
        helper.make_node("Mul", ["x", "two"], ["a_second"]),
    ]
    init = [
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 3]) for n in ("z_first", "a_second")]
    model = helper.make_model(helper.make_graph(nodes, "two_outputs", [x], outputs, init))
    model.opset_import[0].version = 17
    model.ir_version = 8
    path = tmp_path / "two.onnx"
    onnx.save(model, str(path))
    feed = np.arange(6, dtype=np.float32).reshape(2, 3)

    # execute
    feeds = {"x": feed}
    with OVRuntime(STRICT) as rt:
        rt.load(LocalArtifact.onnx(path))
        # once plain, once binding a request, then twice on the bound request's synchronous path
        runs = [rt.infer(feeds) for _ in range(4)]
        runs[2][0][:] = -1  # outputs are the caller's copies: the next query's are untouched

    # assert
    for first, second in [runs[0], runs[1], runs[3]]:
        np.testing.assert_array_equal(first, feed + 1)
        np.testing.assert_array_equal(second, feed * 2)


@pytest.mark.openvino
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "NOSUCHDEVICE"}, r"has no NOSUCHDEVICE device \(it has .*CPU.*\): install"),
        ({"device": "MYRIAD"}, r"MYRIAD \(Movidius NCS2\) needs OpenVINO 2022.3 LTS or older.*openvino==2022.3.2"),
    ],
)
def test_a_device_it_lacks_is_one_clear_load_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(RuntimeLoadError, match=message) as info:
        OVRuntime(options).load(DEMO)

    assert "\n" not in str(info.value)


@pytest.mark.openvino
def test_corrupt_xml_is_one_clear_load_error(tmp_path: Path) -> None:
    good = convert_to_ir(DEMO_MODEL_PATH, tmp_path)
    corrupt = tmp_path / "corrupt.xml"
    corrupt.write_text(good.path("model").read_text()[:500])  # cut inside a tag
    artifact = LocalArtifact("openvino-ir", {"model": corrupt, "weights": good.path("weights")})

    with pytest.raises(RuntimeLoadError, match=r"^OpenVINO cannot read corrupt.xml: \w") as info:
        OVRuntime().load(artifact)

    assert "\n" not in str(info.value) and "Exception from src" not in str(info.value)


@pytest.mark.openvino
def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    good = convert_to_ir(DEMO_MODEL_PATH, tmp_path)
    artifact = LocalArtifact("openvino-ir", {"model": good.path("model"), "weights": tmp_path / "absent.bin"})

    with pytest.raises(RuntimeLoadError, match="absent.bin does not exist"):
        OVRuntime().load(artifact)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threads": 2}, r"no runtime option 'threads'; its options are device, performance_hint"),
        ({"performance_hint": "FAST"}, "performance_hint must be LATENCY or THROUGHPUT, not 'FAST'"),
        ({"inference_precision": "fp32"}, r"inference_precision must be f32, f16, bf16 \(f32 = strict FP32\)"),
        ({"num_streams": 0}, "num_streams must be a whole number of at least 1, not 0"),
        ({"inference_num_threads": "4"}, "inference_num_threads must be a whole number"),
        ({"num_requests": True}, "num_requests must be a whole number"),
        ({"device": ""}, "device must be a device name such as CPU"),
    ],
)
def test_bad_option_is_one_clear_load_error_before_openvino_is_touched(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(RuntimeLoadError, match=message) as info:
        OVRuntime(options)

    assert "\n" not in str(info.value)


def test_module_imports_and_is_declared_without_openvino() -> None:
    code = (
        "import sys\n"
        "sys.modules['openvino'] = None  # as if it were not installed\n"
        "from agent.errors import RuntimeLoadError\n"
        "from agent.runtimes import declared_runtimes, installed_runtimes\n"
        "from agent.runtimes.base import LocalArtifact\n"
        "from agent.runtimes.ov_runtime import OVRuntime\n"
        "assert declared_runtimes()['openvino'] is OVRuntime\n"
        "assert 'openvino' not in installed_runtimes()\n"
        "for call in (OVRuntime.version, lambda: OVRuntime().load(LocalArtifact.onnx(sys.argv[1]))):\n"
        "    try:\n"
        "        call()\n"
        "    except RuntimeLoadError as exc:\n"
        "        assert 'edgeprof[agent-openvino]' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('no RuntimeLoadError')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(DEMO_MODEL_PATH)], check=True, cwd=REPO)


def test_importing_the_module_does_not_import_openvino() -> None:
    code = (
        "import sys, agent.runtimes.ov_runtime\n"
        "assert sys.modules.get('openvino') is None, 'openvino imported at module level'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- the 2022.3 LTS API (openvino.runtime) under the Python 3.8 agent interpreter ------------------

LEGACY_SCRIPT = """
import json, sys
import numpy as np
from agent.runtimes.base import LocalArtifact
from agent.runtimes.ov_runtime import OVRuntime
from agent.window import WindowPlan

images = np.load(sys.argv[1])
report = {"version": OVRuntime.version(), "python": list(sys.version_info[:2]), "runs": {}}
for label, kind, files in json.loads(sys.argv[2]):
    with OVRuntime({"device": "CPU", "inference_precision": "f32"}) as rt:
        rt.load(LocalArtifact(kind, files))
        (logits,) = rt.infer({"image": images})
        np.save(sys.argv[3] + "/" + label + ".npy", logits)
        report["runs"][label] = rt.settings()
        # the async queue and the performance counters through the 2022.3 API
        window = rt.run_concurrent([{"image": images[:2]}], 2, WindowPlan.build(0.1, 5, 0))
        report["runs"][label]["async_queries"] = len(window.latencies_s)
        report["runs"][label]["profile_top"] = rt.layer_profile([{"image": images[:2]}], 2)[0].op_type
        # feeds used again run on requests whose inputs stay set: each must still give its own outputs
        a, b = {"image": images[:2]}, {"image": images[2:4]}
        outs = [rt.infer(f)[0] for f in (a, b, a, b, a, b)]
        report["runs"][label]["bound_agree"] = bool(
            all(np.allclose(outs[i], outs[i % 2], atol=1e-6) for i in range(6)) and not np.allclose(outs[0], outs[1])
        )
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def legacy_python() -> str:
    python = os.environ.get("EDGEPROF_TEST_AGENT_PYTHON")
    if not python:
        pytest.skip("EDGEPROF_TEST_AGENT_PYTHON is not set (.ci/run builds .venv38 with openvino==2022.3.2)")
    probe = subprocess.run(
        [python, "-c", "import sys; from openvino.runtime import Core; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"{python} has no openvino.runtime (.ci/run installs openvino==2022.3.2 there)")
    return python


def test_legacy_openvino_runtime_api_on_python_38_agrees_with_onnx_runtime(legacy_python: str, tmp_path: Path) -> None:
    # setup: the ONNX model, and an IR written by the host's current openvino when it has one
    images = demo_images()
    np.save(tmp_path / "images.npy", images)
    artifacts = [("onnx", "onnx", {"model": str(DEMO_MODEL_PATH)})]
    try:
        ir = convert_to_ir(DEMO_MODEL_PATH, tmp_path)
        artifacts.append(("ir", "openvino-ir", {role: str(p) for role, p in ir.files.items()}))
    except ImportError:
        pass  # no openvino on the host: the ONNX path alone

    # execute
    proc = subprocess.run(
        [legacy_python, "-c", LEGACY_SCRIPT, str(tmp_path / "images.npy"), json.dumps(artifacts), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # this tree's agent, not the copy installed there
        timeout=240,
    )

    # assert
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["python"] == [3, 8]
    assert report["version"].startswith("2022.3") and "openvino.runtime API" in report["version"]
    reference = ort_reference(images)
    for label, _kind, _files in artifacts:
        settings = report["runs"][label]
        assert settings["api"].startswith("openvino.runtime 2022.3") and settings["api"].endswith("(legacy)")
        assert settings["inference_precision"] == "f32"
        assert set(settings["compute_layer_precisions"]) == {"f32"}  # 2022.3 says FP32: normalised
        assert settings["async_queries"] >= 5 and settings["profile_top"] in {"Convolution", "FullyConnected"}
        assert settings["bound_agree"]
        logits = np.load(tmp_path / f"{label}.npy")
        np.testing.assert_allclose(logits, reference, atol=ATOL, rtol=0)


@pytest.mark.openvino
def test_feeds_used_again_run_on_a_bound_request_and_still_give_their_own_outputs() -> None:
    from agent.runtimes.ov_measure import BoundRequests

    rt = OVRuntime(STRICT)
    rt.load(DEMO)
    images = demo_images(8)
    feeds = [{DEMO_INPUT_NAME: images[2 * i : 2 * i + 2]} for i in range(3)]
    reference = ort_reference(images[:6])

    outputs = [rt.infer(f)[0] for f in feeds * 4]  # first round plain, second binds, then no inputs passed

    for i, out in enumerate(outputs):
        k = i % 3
        np.testing.assert_allclose(out, reference[2 * k : 2 * k + 2], atol=ATOL, rtol=0)
    rt.close()

    # the pool itself: once-used feeds never get a request, the least recently used is let go
    import openvino as ov

    compiled = ov.Core().compile_model(str(DEMO_MODEL_PATH), "CPU")
    pool = BoundRequests(compiled, capacity=2)
    a, b, c = ({DEMO_INPUT_NAME: images[i : i + 1]} for i in range(3))
    assert pool.request_for(a) is None  # first sight: run the plain way
    request_a, inputs_set = pool.request_for(a)
    assert not inputs_set  # bound now; the caller sets its inputs this once
    assert pool.request_for(a) == (request_a, True)
    for once in ({DEMO_INPUT_NAME: images[i : i + 1]} for i in range(5)):
        assert pool.request_for(once) is None
    pool.request_for(b), pool.request_for(b)
    pool.request_for(c), pool.request_for(c)  # a is the least recently used of three: let go
    assert pool.request_for(a) is None


@pytest.mark.openvino
def test_async_requests_in_flight_through_the_harness(tmp_path: Path) -> None:
    from agent.harness import EvalSet, WindowSettings, measure
    from agent.proc_stats import CPUAccount

    rt = OVRuntime({"performance_hint": "THROUGHPUT", "num_streams": 2, "inference_num_threads": 2})
    rt.load(DEMO)
    data = EvalSet({DEMO_INPUT_NAME: demo_images(16)})
    settings = WindowSettings(warmup_s=0.05, min_duration_s=0.3, min_queries=20, concurrency=2, p99_queries=0)
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "stat").write_text("1 (x) S " + " ".join(["0"] * 20))
    (tmp_path / "stat").write_text("cpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n")

    m = measure(rt, data, 4, settings=settings, cpu_account=CPUAccount(proc_root=tmp_path, cpus={0, 1}))

    assert m.concurrency == 2 and m.queries >= 20 and m.samples == 4 * m.queries
    assert m.latency_ms.min > 0 and m.throughput_ips == pytest.approx(m.samples / m.duration_s)
    rt.close()


@pytest.mark.openvino
def test_performance_counters_give_the_top_node_types() -> None:
    rt = OVRuntime(STRICT)
    rt.load(DEMO)
    batches = [{DEMO_INPUT_NAME: demo_images(2)}]

    profile = rt.layer_profile(batches, 5)

    assert profile and profile[0].time_ms > 0 and profile[0].share > 0.3
    assert profile[0].op_type in {"Convolution", "FullyConnected", "MatMul"}
    assert profile[0].detail  # the kernel, e.g. jit_avx512_FP32 or brgconv_avx512_f32
    assert sum(layer.share for layer in profile) <= 1.0 + 1e-9
    # the timed model stays without counters
    assert "PERF_COUNT" not in rt.settings()["requested"]
    rt.close()
