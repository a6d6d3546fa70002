"""The measuring bar's text (pipeline/live_progress.py): phase per device and the run's ETA."""

from __future__ import annotations

import dataclasses

from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactRef, BenchmarkJob
from pipeline.live_progress import LiveProgress, PlainProgressLog, duration_text, planned_job_s


def job(n: int, device: str = "dev") -> BenchmarkJob:
    model = ArtifactRef("ab" * 32, "http://127.0.0.1:1/objects/" + "ab" * 32, 10, MANIFEST_MEDIA_TYPE)
    return BenchmarkJob(
        job_id=f"j{n}", run_id="r", variant_id=f"v{n}", device_id=device, issued_at=0.0, expires_at=1e12,
        model=model, runtime="onnxruntime", precision="fp32", batch_sizes=[1, 8], warmup_s=0.5, min_duration_s=2.0,
    )  # fmt: skip


def test_planned_time_is_windows_times_warm_up_and_duration() -> None:
    assert planned_job_s(job(1)) == 2 * 2.5
    assert planned_job_s(dataclasses.replace(job(1), concurrency=[1, 2])) == 4 * 2.5


def test_eta_from_the_agents_phase_then_from_the_measured_rate() -> None:
    now = [0.0]
    jobs = [job(1), job(2), job(3)]
    live = LiveProgress(jobs, clock=lambda: now[0])
    assert live.eta() == (15.0, "planned windows")  # three jobs of 5 s planned, none started
    live.moved(jobs[0], "running", "measuring · window 2 of 2 at batch 8 · eta 2 s")
    assert live.line() == "v1@dev: measuring · window 2 of 2 at batch 8; ETA 12 s (planned windows)"
    now[0] = 1.0
    assert live.eta() == (11.0, "planned windows")  # the agent's 2 s counted down, plus 2 × 5 s
    now[0] = 8.0
    live.ended(jobs[0])  # it took 8 s: the rate is now measured
    assert live.eta() == (16.0, "measured rate")
    live.moved(jobs[1], "running", "")
    assert live.line().startswith("v2@dev: starting; ETA 16 s (measured rate)")
    live.ended(jobs[1])
    live.moved(jobs[2], "failed", "boom")
    assert live.eta() is None and live.line() == ""


def test_the_slowest_device_sets_the_eta_and_durations_read_well() -> None:
    live = LiveProgress([job(1, "a"), job(2, "b"), job(3, "b")], clock=lambda: 0.0)
    assert live.eta() == (10.0, "planned windows")
    assert duration_text(45.4) == "45 s" and duration_text(185) == "3 min 05 s"


def test_a_console_that_is_not_a_terminal_gets_changed_lines_at_most_every_few_seconds() -> None:
    now = [0.0]
    log = PlainProgressLog(every_s=10.0, clock=lambda: now[0])
    assert log.due("") is None  # nothing to say yet
    assert log.due("v1@dev: starting; ETA 10 s (planned windows)") == "v1@dev: starting; ETA 10 s (planned windows)"
    now[0] = 3.0
    assert log.due("v1@dev: warm-up at batch 1; ETA 7 s (planned windows)") is None  # too soon
    now[0] = 12.0
    assert log.due("v1@dev: warm-up at batch 1; ETA 7 s (planned windows)") is not None
    now[0] = 30.0
    assert log.due("v1@dev: warm-up at batch 1; ETA 7 s (planned windows)") is None  # unchanged
