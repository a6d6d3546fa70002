"""The benchmark child as the service starts it (``python -m agent.worker``), around a power mode:
the job runs in the mode it asked for, its result names that mode, and the board's mode comes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.protocol import ArtifactRef, BenchmarkJob, BenchmarkResult, WorkerSpec, decode, encode
from agent.protocol.artifacts import MANIFEST_MEDIA_TYPE
from agent.worker import agent_state_dir, note_power_mode
from pipeline.demo_model import DEMO_MODEL_PATH

from .fake_jetson_tools import install, read_state

REPO = Path(__file__).resolve().parents[2]


def job(power_mode: str = "", fixed_clocks: bool = False) -> BenchmarkJob:
    now = time.time()
    return BenchmarkJob(
        job_id="job1",
        run_id="run1",
        variant_id="ort-fp32-mode-7W",
        device_id="orin-1",
        issued_at=now,
        expires_at=now + 600,
        model=ArtifactRef("0" * 64, "http://127.0.0.1:1/" + "0" * 64, 1, MANIFEST_MEDIA_TYPE),
        runtime="onnxruntime",
        precision="fp32",
        batch_sizes=[1],
        warmup_s=0.05,
        min_duration_s=0.2,
        min_queries=5,
        power_mode=power_mode,
        fixed_clocks=fixed_clocks,
    )


def run_worker(tmp_path: Path, benchmark: BenchmarkJob, path_prefix: str) -> BenchmarkResult:
    work = tmp_path / "state" / "work" / benchmark.job_id
    work.mkdir(parents=True)
    spec = WorkerSpec(benchmark, "onnx", {"model": str(DEMO_MODEL_PATH)}, power="estimate")
    (work / "spec.json").write_bytes(encode(spec))
    env = {**os.environ, "PATH": f"{path_prefix}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "agent.worker", str(work / "spec.json"), str(work / "result.json")],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )
    return decode(BenchmarkResult, (work / "result.json").read_bytes())


@pytest.mark.jetson
def test_the_result_names_the_mode_it_ran_in_and_the_board_gets_its_mode_back(tmp_path: Path) -> None:
    tools = install(tmp_path / "tools", tmp_path / "sys")

    result = run_worker(tmp_path, job("7W"), str(tools["bin"]))

    assert result.status == "ok", result.error
    assert result.power_mode == "7W"
    mode = result.environment["power_mode"]
    assert mode["previous"] == "15W" and mode["id"] == 1 and mode["restored"] is True
    state = read_state(tools["state"])
    assert state["current"] == 0 and "nvpmodel -m 1" in state["calls"] and state["calls"][-1] != "nvpmodel -m 1"


@pytest.mark.jetson
def test_a_mode_the_board_lacks_fails_the_job_with_the_modes_it_has(tmp_path: Path) -> None:
    tools = install(tmp_path / "tools", tmp_path / "sys")

    result = run_worker(tmp_path, job("30W"), str(tools["bin"]))

    assert result.status == "failed"
    assert "no power mode '30W'; its modes are 15W (0), 7W (1), MAXN_SUPER (2)" in result.error


def test_the_state_folder_is_found_where_the_service_puts_the_spec(tmp_path: Path) -> None:
    assert agent_state_dir(tmp_path / "state" / "work" / "job1" / "spec.json") == (tmp_path / "state").resolve()
    assert agent_state_dir(tmp_path / "spec.json") is None


def test_a_failed_restore_is_a_note_on_the_result() -> None:
    result = json.loads(json.dumps({"environment": {"notes": []}}))

    note_power_mode(result, {"name": "7W", "restored": False, "restore_error": "nvpmodel -m 0 failed"})

    assert result["power_mode"] == "7W"
    assert result["environment"]["notes"] == [
        "the previous power mode was not restored after this job: nvpmodel -m 0 failed"
    ]
