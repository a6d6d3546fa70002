"""Bad input: one clear line, non-zero exit, no traceback, and nothing written to the output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH


def edgeprof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=120)


def optimize(tmp_path: Path, model: Path, calib: Path = DEMO_CALIB_PATH, evals: Path = DEMO_EVAL_PATH, *extra: str):  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    proc = edgeprof(
        "optimize", str(model), "--calib", str(calib), "--eval", str(evals), "--out", str(out),
        "--job-key-file", str(tmp_path / "k"), *extra,
    )  # fmt: skip
    return proc, out


def assert_clean_failure(proc: subprocess.CompletedProcess[str], out: Path, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error:"), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists(), "a failed run left an output folder behind"


def test_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    proc, out = optimize(tmp_path, bad)
    assert_clean_failure(proc, out, "is not a readable ONNX model")


def test_a_missing_model(tmp_path: Path) -> None:
    proc, out = optimize(tmp_path, tmp_path / "nope.onnx")
    assert_clean_failure(proc, out, "does not exist")


def test_data_whose_shape_does_not_match_the_model(tmp_path: Path) -> None:
    evals = tmp_path / "eval.npz"
    np.savez(evals, image=np.zeros((4, 1, 28, 28), np.float32), labels=np.zeros(4, np.int64))
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, DEMO_CALIB_PATH, evals)
    assert_clean_failure(proc, out, "--eval", "[1, 28, 28]", "[batch, 1, 32, 32]")


def test_calibration_data_of_the_wrong_dtype(tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=np.zeros((4, 1, 32, 32), np.float64))
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, calib)
    assert_clean_failure(proc, out, "--calib", "float64", "astype(np.float32)")


def test_data_named_after_no_input(tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, pixels=np.zeros((4, 1, 32, 32), np.float32))
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, calib)
    assert_clean_failure(proc, out, "'image'", "pixels")


def test_a_truncated_data_file(tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    calib.write_bytes(DEMO_CALIB_PATH.read_bytes()[:3000])
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, calib)
    assert_clean_failure(proc, out, "--calib")


def test_an_unreachable_broker(tmp_path: Path) -> None:
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, DEMO_CALIB_PATH, DEMO_EVAL_PATH, "--broker", "mqtt://127.0.0.1:9")
    assert_clean_failure(proc, out, "cannot reach the MQTT broker at 127.0.0.1:9", "--broker")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = edgeprof("--debug", "optimize", str(tmp_path / "nope.onnx"), "--out", str(out))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "InputError" in proc.stderr


@pytest.mark.parametrize("batch", ["0", "a,b"])
def test_bad_batch_sizes_are_usage_errors(tmp_path: Path, batch: str) -> None:
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, DEMO_CALIB_PATH, DEMO_EVAL_PATH, "--batch", batch)
    assert proc.returncode == 2 and "--batch" in proc.stderr
    assert not out.exists()


def test_help_explains_the_main_command() -> None:
    proc = edgeprof("optimize", "--help")
    assert proc.returncode == 0
    for flag in ("--calib", "--eval", "--broker", "--targets", "--batch", "--sla-p99-ms"):
        assert flag in proc.stdout


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (("--precisions", "fp32,int4"), ("--precisions", "int4")),
        (("--sla-p99-ms", "-5"), ("--sla-p99-ms", "positive")),
        (("--max-accuracy-loss", "5"), ("--max-accuracy-loss", "0.01 = 1 percentage point")),
        (("--targets", "jetson-01"), ("embedded broker", "--broker")),
        (("--targets", "jetson-01", "--broker", "mqtt://127.0.0.1:9"), ("--serve-host",)),
    ],
)
def test_options_that_cannot_work_are_refused_before_anything_is_written(tmp_path: Path, extra, fragments) -> None:  # type: ignore[no-untyped-def]
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, DEMO_CALIB_PATH, DEMO_EVAL_PATH, *extra)
    assert_clean_failure(proc, out, *fragments)


def test_labels_beyond_the_models_classes(tmp_path: Path) -> None:
    evals = tmp_path / "eval.npz"
    np.savez(evals, image=np.zeros((4, 1, 32, 32), np.float32), labels=np.array([0, 1, 2, 10]))
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, DEMO_CALIB_PATH, evals)
    assert_clean_failure(proc, out, "labels go up to 10", "10 classes")


def test_batch_sizes_a_fixed_batch_model_cannot_run(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(DEMO_MODEL_PATH))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    fixed = tmp_path / "fixed4.onnx"
    onnx.save(model, str(fixed))
    proc, out = optimize(tmp_path, fixed)
    assert_clean_failure(proc, out, "fixed to 4", "--batch 4")


def test_an_out_that_names_an_existing_file(tmp_path: Path) -> None:
    taken = tmp_path / "out"
    taken.write_text("a file the user keeps\n")
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("edgeprof: error: --out") and "is a file, not a folder" in proc.stderr
    assert "internal error" not in proc.stderr and "embedded MQTT broker" not in proc.stdout  # refused up front
    assert taken.read_text() == "a file the user keeps\n"


def test_calibration_data_holding_nan_is_refused_up_front(tmp_path: Path) -> None:
    with np.load(DEMO_CALIB_PATH) as npz:
        image = npz["image"][:64].copy()
    image[3, 0, 5, 5] = np.nan
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=image)
    proc, out = optimize(tmp_path, DEMO_MODEL_PATH, calib)
    assert_clean_failure(proc, out, "--calib", "calib.npz", "'image'", "NaN")
