"""The run summary (pipeline/summary.py): agent results in, everything the outputs show out."""

from __future__ import annotations

import re

import pytest

from agent.protocol import AccuracyReport
from pipeline.constraints import Constraints
from pipeline.objectives import DEFAULT_OBJECTIVES
from pipeline.rank import NOT_RANKED
from pipeline.summary import Failure, Unfinished, summarize

from .sample_results import MODEL, device_status, result

EVAL = {"source": "eval.npz", "samples": 100, "has_labels": True}


def run(results, **kwargs):
    args = dict(
        run_id="run", model=MODEL, eval_info=EVAL, artifacts={}, devices={"dev": device_status("dev")},
        host_top1=None, build_failures=[], unfinished=[], sla_p99_ms=None, max_accuracy_loss=None,
    )  # fmt: skip
    args.update(kwargs)
    return summarize(results, **args)


def test_results_are_recorded_ranked_and_recommended():
    s = run(
        [
            result("fp32", "fp32", AccuracyReport(samples=100, top1=0.98)),
            result("int8", "int8-static", AccuracyReport(samples=100, top1=0.97), batches=(1, 8)),
        ],
        sla_p99_ms=20.0,
        max_accuracy_loss=0.02,
        created_at="2026-01-02T03:04:05Z",
    )
    assert [r.id for r in s.records] == ["fp32/dev/b1", "int8/dev/b1", "int8/dev/b8"]
    assert s.constraints == Constraints(sla_p99_ms=20.0, max_accuracy_loss=0.02)
    assert s.objectives == DEFAULT_OBJECTIVES
    assert s.created_at == "2026-01-02T03:04:05Z"
    # No power figures: ranked on throughput, where int8 at batch 8 leads.
    assert s.recommendation is not None and s.recommendation.id == "int8/dev/b8"
    assert s.recommended is s.records[2]
    assert s.ranking.fallback_notes


def test_build_failures_come_before_device_failures_and_unfinished_jobs_are_kept():
    built = Failure("int8-per-channel", "dev", "needs opset 13+")
    job = Unfinished("j1", "fp16", "dev", "queued", "no result within the deadline")
    s = run(
        [result("bad", "int8-static", None, status="failed", error="segfault")],
        build_failures=[built],
        unfinished=[job],
    )
    assert s.failures == (built, Failure("bad", "dev", "segfault"))
    assert s.unfinished == (job,)
    assert s.records == () and s.recommendation is None


def test_created_at_defaults_to_now_in_utc():
    s = run([])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s.created_at)


def test_notes_end_with_why_a_record_is_not_ranked():
    s = run([result("int8", "int8-static", None)], sla_p99_ms=1.0)
    (r,) = s.records
    notes = s.notes(r)
    assert notes[:-1] == r.notes
    assert notes[-1] == NOT_RANKED + "p99 3 ms exceeds the 1 ms SLA"


def test_bad_constraints_are_refused():
    with pytest.raises(ValueError, match="max_accuracy_loss"):
        run([], max_accuracy_loss=5.0)
