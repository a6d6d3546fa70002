"""The view both reports share (pipeline/report/view.py)."""

from __future__ import annotations

import dataclasses

from pipeline.report.view import (
    grouped_notes,
    legend,
    measurement_summary,
    no_recommendation,
    power_provenance,
    ranking_summary,
    rows,
    shared_notes,
    short_ids,
    unfinished_headline,
    unfinished_jobs,
)
from pipeline.summary import Unfinished

from ..sample_results import record, summary


def test_rows_are_sorted_and_carry_the_ranking():
    run = summary([record("slow", ipj=50, p99=9.0), record("fast", ipj=500, p99=1.0), record("bad", valid=False)])
    table = rows(run)
    assert [r.record.variant_id for r in table] == ["fast", "slow", "bad"]
    fast, slow, bad = table
    assert fast.front and fast.recommended and fast.cells["front"] == "★"
    assert slow.rank == 1 and slow.cells["front"] == "1"
    assert not bad.valid and bad.cells["front"] == "–" and bad.cells["valid"] == "✗"
    assert bad.notes == ("not ranked: invalid measurement",)
    assert fast.cells["ipj"] == "~500" and fast.cells["loss"] == "0.0"


def test_the_legend_lists_only_marks_that_occur():
    assert "estimated" not in legend(rows(summary([record("a", estimated=False)])))
    assert "fidelity" in legend(rows(summary([record("a", loss=None, agreement=0.9)])))


def test_notes_common_to_most_records_are_shared_not_repeated():
    run = summary([record("a", notes=["x"]), record("b", notes=["x"]), record("c", notes=["y"])])
    assert shared_notes(run) == {"x"}
    assert [r.notes for r in rows(run)] == [(), (), ("y",)]
    assert grouped_notes(run) == [("x", ["a/local-myhost/b8", "b/local-myhost/b8"]), ("y", ["c/local-myhost/b8"])]


def test_summaries_in_words():
    run = summary([record("a"), record("b", power=False)], sla=5.0, max_loss=0.01)
    assert ranking_summary(run).startswith("Ranked on most throughput at the p99 target, least accuracy loss.")
    assert "Constraints: p99 ≤ 5 ms, accuracy loss ≤ 1 pp." in ranking_summary(run)
    assert "1 of 2 records have no energy figure" in ranking_summary(run)
    assert power_provenance(run) == [
        "estimate:cpu-load: ESTIMATED, not measured; 1 run, 40 samples each at 20 Hz; idle –; "
        "method: CPU busy fraction (assumed)",
        "1 run without a power figure: no energy or inferences per joule for it",
    ]
    assert measurement_summary(run).startswith("2 measurements; windows 2.01 s, 2,300 queries")
    assert no_recommendation(summary([])) == "No measurements came back."
    assert "None of the 1 measurement is" in no_recommendation(summary([record("a", p99=9.0)], sla=1.0))


def test_short_ids():
    assert short_ids(["a", "b", "c", "d"]) == "a, b, c, d"
    assert short_ids(list("abcdefg")) == "a, b, c and 4 more"


def test_unfinished_jobs_in_words():
    assert unfinished_headline(summary([])) is None
    jobs = (Unfinished("j1", "fp16", "dev", "queued", "device\n went offline"), Unfinished("j2", "x", "dev", "", ""))
    run = dataclasses.replace(summary([]), unfinished=jobs)
    assert unfinished_headline(run) == "2 jobs issued for this run never reported: fp16 on dev (queued), x on dev (–)"
    assert [(u.state, u.reason) for u in unfinished_jobs(run)] == [("queued", "device went offline"), ("–", "–")]
