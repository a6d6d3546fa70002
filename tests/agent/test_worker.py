"""The benchmark child's job: a whole sweep on a real model with the real estimate, idle power for
every source, threads, the deadline it was given, and a result that decodes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from agent.protocol import ArtifactRef, BenchmarkJob, BenchmarkResult, eval_data, from_dict
from agent.runtimes import LocalArtifact
from agent.worker import run_job, runtime_options
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH


def job(**over: object) -> BenchmarkJob:
    fields: dict = dict(
        job_id="j1", run_id="r1", variant_id="ort-fp32", device_id="dev-1", issued_at=time.time(),
        expires_at=time.time() + 600, model=ArtifactRef("a" * 64, "http://127.0.0.1:1/a", 1, "model/onnx"),
        runtime="onnxruntime", precision="fp32", batch_sizes=[1, 8], warmup_s=0.05, min_duration_s=0.3,
        min_queries=5, threads=1,
    )  # fmt: skip
    fields.update(over)
    return BenchmarkJob(**fields)


@pytest.fixture(scope="module")
def eval_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "eval.npz"
    with np.load(DEMO_EVAL_PATH) as npz:
        eval_data.write_eval_set(path, {"image": npz["image"][:40]}, labels=npz["labels"][:40])
    return path


def run(j: BenchmarkJob, eval_path: Path | None, **kw: object) -> BenchmarkResult:
    doc = run_job(j, LocalArtifact.onnx(DEMO_MODEL_PATH), eval_path, "estimate", **kw)  # type: ignore[arg-type]
    return from_dict(BenchmarkResult, doc)


def test_a_job_with_the_estimate_and_no_idle_figure_reports_above_idle_only(eval_path: Path) -> None:
    result = run(job(), eval_path)

    assert result.status == "ok" and [m.batch_size for m in result.measurements] == [1, 8]
    assert result.runtime_settings["intra_op_num_threads"] == 1  # --threads reached the runtime
    for m in result.measurements:
        assert m.power is not None and m.power.estimated
        assert m.power.avg_w is None and m.inferences_per_joule is None  # gross unknown
        assert m.power.above_idle_w is not None and m.inferences_per_joule_above_idle is not None
        assert m.power.idle_source.startswith("unknown")
        assert m.accuracy is not None and m.accuracy.samples == 40  # each at its own batch size
        assert m.validity is not None and m.validity.worker_cpu_s is not None
    assert result.accuracy == result.measurements[-1].accuracy  # the largest batch's, for older hosts
    assert result.throughput_at_sla is None  # no SLA


def test_a_profile_idle_figure_makes_the_estimate_gross(eval_path: Path) -> None:
    result = run(job(batch_sizes=[1]), None, target="raspberry-pi-5")

    power = result.measurements[0].power
    assert power is not None and power.idle_w == 3.0 and power.idle_source.startswith("assumed, not measured")
    assert power.avg_w is not None and power.avg_w >= 3.0
    assert result.measurements[0].inferences_per_joule is not None


def test_the_deadline_the_service_gives_is_kept(eval_path: Path) -> None:
    started = time.time()
    result = run(job(batch_sizes=[1, 2, 4, 8, 16]), eval_path, deadline_at=started + 6.0)

    took = time.time() - started
    assert took < 6.0  # the service would have killed it, and every figure with it
    assert result.status == "ok" and 1 <= len(result.measurements) < 5
    assert any("deadline" in n for n in result.environment["notes"])


def test_threads_go_where_each_runtime_reads_them() -> None:
    from agent.runtimes.ort_runtime import ORTRuntime
    from agent.runtimes.ov_runtime import OVRuntime

    j = job(threads=3, runtime_options={"inter_op_num_threads": 1})
    assert runtime_options(j, ORTRuntime) == {"inter_op_num_threads": 1, "intra_op_num_threads": 3}
    assert runtime_options(j, OVRuntime)["inference_num_threads"] == 3
    assert runtime_options(job(threads=0), ORTRuntime) == {}
