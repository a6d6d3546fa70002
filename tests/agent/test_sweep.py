"""The sweep of a job: order, the SLA stop, the deadline path, accuracy per batch size, throughput at
the latency target."""

from __future__ import annotations

import time

import numpy as np
import pytest

from agent.errors import InferenceError
from agent.harness import EvalSet
from agent.protocol import ArtifactRef, BenchmarkJob, LatencyStats, Measurement, Validity
from agent.runtimes import LocalArtifact
from agent.runtimes.ort_runtime import ORTRuntime
from agent.sweep import Deadline, run_sweep, sweep_points, throughput_at_sla
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH


def job(**over: object) -> BenchmarkJob:
    fields: dict = dict(
        job_id="j1", run_id="r1", variant_id="ort-fp32", device_id="dev-1", issued_at=0.0, expires_at=1e12,
        model=ArtifactRef("a" * 64, "http://127.0.0.1:1/a", 1, "model/onnx"), runtime="onnxruntime",
        precision="fp32", batch_sizes=[8, 1], warmup_s=0.02, min_duration_s=0.2, min_queries=5,
    )  # fmt: skip
    fields.update(over)
    return BenchmarkJob(**fields)


class OutOfMemoryAt(ORTRuntime):
    """ONNX Runtime that fails at one batch size, as a device out of memory would."""

    def __init__(self, batch: int) -> None:
        super().__init__({"intra_op_num_threads": 1})
        self.failing = batch

    def infer(self, feeds):  # type: ignore[no-untyped-def]
        if next(iter(feeds.values())).shape[0] == self.failing:
            raise InferenceError("out of memory (simulated)")
        return super().infer(feeds)


@pytest.fixture(scope="module")
def evalset() -> EvalSet:
    with np.load(DEMO_EVAL_PATH) as npz:
        return EvalSet({"image": npz["image"][:48]}, labels=npz["labels"][:48])


@pytest.fixture(scope="module")
def runtime():  # type: ignore[no-untyped-def]
    rt = ORTRuntime({"intra_op_num_threads": 1})
    rt.load(LocalArtifact.onnx(DEMO_MODEL_PATH))
    return rt


def far() -> Deadline:
    return Deadline(time.monotonic() + 300)


def test_points_run_smallest_first() -> None:
    assert sweep_points(job(batch_sizes=[8, 1, 4], concurrency=[2, 1])) == [
        (1, 1), (1, 2), (4, 1), (4, 2), (8, 1), (8, 2),
    ]  # fmt: skip


def test_each_batch_keeps_its_own_accuracy_when_the_largest_fails(evalset) -> None:  # type: ignore[no-untyped-def]
    """The landed worker scored accuracy once, at the largest batch: when that batch failed, every
    record lost its accuracy."""
    rt = OutOfMemoryAt(8)
    rt.load(LocalArtifact.onnx(DEMO_MODEL_PATH))

    measurements, notes = run_sweep(
        rt, evalset, job(batch_sizes=[1, 2, 8]), min_duration_s=0.2, deadline=far(), score_accuracy=True
    )

    assert [m.batch_size for m in measurements] == [1, 2]
    assert all(m.accuracy is not None and m.accuracy.samples == 48 for m in measurements)
    assert any(n.startswith("batch 8 not measured: out of memory") for n in notes)


def test_a_broken_sla_stops_the_sweep_and_says_where(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    j = job(batch_sizes=[1, 2, 4], concurrency=[1, 2], sla_p99_ms=0.0001)  # nothing meets 0.1 µs

    measurements, notes = run_sweep(runtime, evalset, j, min_duration_s=0.2, deadline=far())

    assert [(m.batch_size, m.concurrency) for m in measurements] == [(1, 1)]
    assert any("batch 1 with 2 in flight not measured" in n for n in notes)
    assert any(n.startswith("batch 2 not measured: at batch 1 the p99 was already over 2x") for n in notes)
    assert any(n.startswith("batch 4 not measured") for n in notes)


def test_more_in_flight_is_tried_while_the_sla_holds(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    j = job(batch_sizes=[1], concurrency=[1, 2], sla_p99_ms=10_000.0)
    measurements, _ = run_sweep(runtime, evalset, j, min_duration_s=0.2, deadline=far())
    assert [(m.batch_size, m.concurrency) for m in measurements] == [(1, 1), (1, 2)]


def test_the_deadline_path_reports_what_fits_and_names_the_rest(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    j = job(batch_sizes=[1, 2, 4, 8], min_duration_s=0.3, deadline_s=1.2)
    started = time.monotonic()

    measurements, notes = run_sweep(
        runtime, evalset, j, min_duration_s=0.3, deadline=Deadline(started + 1.2), score_accuracy=True
    )

    took = time.monotonic() - started
    assert 1 <= len(measurements) < 4
    skipped = [n for n in notes if "before the job's 1 s deadline" in n]
    assert len(skipped) == 4 - len(measurements)
    assert took < 1.2 + 0.5  # each window kept to its share; the last point was not started late
    for m in measurements:  # a window may not outlast its share of what was left
        assert m.duration_s <= max(0.3, 1.2) + 0.1


def test_a_fixed_batch_axis_skips_the_other_sizes_with_a_note(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    measurements, notes = run_sweep(runtime, evalset, job(batch_sizes=[1, 8]), min_duration_s=0.2,
                                    deadline=far(), fixed_batch=8)  # fmt: skip
    assert [m.batch_size for m in measurements] == [8]
    assert any("batch 1 skipped: the model's batch axis is fixed to 8" in n for n in notes)


def m(batch: int, conc: int, tput: float, p99: float, valid: bool = True) -> Measurement:
    lat = LatencyStats(p50=p99 / 2, p90=p99, p99=p99, mean=p99 / 2, min=0.1, max=p99, stdev=0.1)
    return Measurement(
        batch_size=batch, throughput_ips=tput, latency_ms=lat, queries=2000, samples=2000 * batch, duration_s=2.0,
        valid=valid, concurrency=conc, validity=Validity(valid=valid, reasons=[] if valid else ["throttled: x"]),
    )  # fmt: skip


def test_throughput_at_the_sla_is_the_best_valid_point_that_meets_it() -> None:
    points = [m(1, 1, 1000, 2.0), m(8, 1, 3000, 9.0), m(8, 2, 3500, 14.0), m(4, 2, 5000, 5.0, valid=False)]
    best = throughput_at_sla(points, 10.0)
    assert best is not None and (best.batch_size, best.concurrency, best.throughput_ips) == (8, 1, 3000)
    assert best.p99_ms == 9.0 and best.sla_p99_ms == 10.0
    assert throughput_at_sla(points, 1.0) is None
    assert throughput_at_sla(points, None) is None
