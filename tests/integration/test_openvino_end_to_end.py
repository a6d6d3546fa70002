"""OpenVINO end to end: IR builds made on the host, shipped as two-file artifacts, measured by the
agent's OpenVINO runtime through a real Mosquitto; and the external mnist case through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH

pytestmark = [pytest.mark.integration, pytest.mark.openvino]
MNIST = Path(__file__).resolve().parents[3] / "shared" / "eval" / "mnist-cnn"


def run_edgeprof(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.mqtt
def test_openvino_builds_are_measured_by_the_agent_over_mosquitto(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'edgeprof[pipeline]')")
    out = tmp_path / "out"
    proc = run_edgeprof(
        "optimize", str(DEMO_MODEL_PATH), "--calib", str(DEMO_CALIB_PATH), "--eval", str(DEMO_EVAL_PATH),
        "--out", str(out), "--broker", mosquitto.url, "--runtimes", "onnxruntime,openvino",
        "--precisions", "fp32,int8-static,int8-dynamic", "--batch", "1,8", "--min-duration", "0.5",
        "--warmup", "0.1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout

    # OpenVINO runs no dynamic INT8: the plan says so instead of failing
    assert "skipped ov-int8-dynamic: openvino does not run int8-dynamic" in proc.stdout
    doc = json.loads((out / "results.json").read_text())
    ov = [r for r in doc["variants"] if r["runtime"] == "openvino"]
    assert {(r["variant_id"], r["batch_size"]) for r in ov} == {
        ("ov-fp32", 1), ("ov-fp32", 8), ("ov-int8-static", 1), ("ov-int8-static", 8),
    }  # fmt: skip
    for r in ov:
        assert r["artifact_kind"] == "openvino-ir"
        settings = r["runtime_settings"]
        # what the plugin really ran in, threads and hint: recorded, never left implicit
        assert settings["inference_precision"] and settings["inference_num_threads"] >= 1
        assert settings["performance_hint"] == "LATENCY" and "CPU" in str(settings["execution_devices"])
        assert r["accuracy"]["top1"] > 0.97 and r["throughput_ips"] > 0
    int8 = next(r for r in ov if r["variant_id"] == "ov-int8-static")
    assert set(int8["runtime_settings"]["compute_layer_precisions"]) & {"u8", "i8"}, "no INT8 kernel ran"
    assert not doc["failed"] and not doc["unfinished"]


def test_the_mnist_case_through_the_cli(tmp_path: Path) -> None:
    """The external case: an opset-11 PyTorch export, real MNIST from idx files through a data spec."""
    if not (MNIST / "mnist-cnn.onnx").exists():
        pytest.skip(f"{MNIST} is not here (the shared evaluation data)")
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'edgeprof[pipeline]')")
    spec = {"source": "idx", "path": str(MNIST / "t10k-images-idx3-ubyte.gz"), "mean": 0.5, "std": 0.5}
    (tmp_path / "calib.json").write_text(json.dumps({**spec, "limit": 200}))
    (tmp_path / "eval.json").write_text(json.dumps({**spec, "limit": 1000}))
    out = tmp_path / "out"
    proc = run_edgeprof(
        "optimize", str(MNIST / "mnist-cnn.onnx"), "--calib", str(tmp_path / "calib.json"),
        "--eval", str(tmp_path / "eval.json"), "--out", str(out), "--runtimes", "onnxruntime,openvino",
        "--precisions", "fp32,int8-static", "--batch", "1", "--min-duration", "0.5", "--warmup", "0.1",
        "--max-accuracy-loss", "0.01",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["model"]["opset"] == 11 and doc["eval"]["samples"] == 1000 and doc["eval"]["has_labels"]
    ids = {r["variant_id"] for r in doc["variants"]}
    assert ids == {"ort-fp32", "ort-int8-static", "ov-fp32", "ov-int8-static"}
    fp32 = next(r for r in doc["variants"] if r["variant_id"] == "ort-fp32")
    assert fp32["accuracy"]["top1"] > 0.98  # real MNIST, real labels
    for r in doc["variants"]:
        assert r["accuracy"]["loss_abs"] <= 0.01, r["id"]  # the opset 11 -> 17 upgrade made per-channel INT8 load
    assert doc["recommended"] is not None
