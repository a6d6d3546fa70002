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


def test_above_idle_figures_stand_in_with_a_mark_when_the_gross_is_unknown() -> None:
    import dataclasses

    from agent.protocol import PowerReport
    from pipeline.report.view import ABOVE_IDLE_MARK, gross_or_above_idle, legend, rows

    above_only = PowerReport(
        avg_w=None, energy_j=None, above_idle_w=1.8, energy_above_idle_j=3.6, source="estimate:cpu-load",
        estimated=True, samples=20, rate_hz=10.0, idle_source="unknown: no idle_power",
    )  # fmt: skip
    r = dataclasses.replace(record("ort-fp32", power=False), power=above_only, inferences_per_joule_above_idle=555.0)
    assert gross_or_above_idle(r) == (1.8, 555.0, True)
    assert gross_or_above_idle(record("ort-int8", ipj=100.0))[2] is False

    table = rows(summary([r]))
    assert table[0].cells["power"] == "~" + ABOVE_IDLE_MARK + "1.80"
    assert table[0].cells["ipj"].startswith("~" + ABOVE_IDLE_MARK + "555")
    assert "above idle only" in legend(table)


def test_validity_profile_and_throughput_at_sla_lines() -> None:
    import dataclasses

    from agent.protocol import LayerTime, MemoryUse, ThroughputAtSLA, Validity
    from pipeline.report.view import throughput_at_sla_lines, top_operators_line, validity_line

    v = Validity(
        valid=False, reasons=["foreign load: 40%"], window_s=2.0, queries=640, p99_is_interpolation=True,
        power_samples=20, power_rate_hz=9.8, power_nominal_rate_hz=10.0, power_max_gap_s=0.11, cpus=2,
        foreign_load=0.4,
    )  # fmt: skip
    best = ThroughputAtSLA(throughput_ips=4210.0, batch_size=8, concurrency=2, p99_ms=4.1, sla_p99_ms=5.0)
    r = dataclasses.replace(
        record("ort-int8"), validity=v, memory=MemoryUse(rss_mib=80.0, peak_rss_mib=91.5), throughput_at_sla=best,
        layer_profile=(LayerTime("Conv", 0.31, 0.93, 4), LayerTime("MaxPool", 0.01, 0.03, 2)),
    )  # fmt: skip

    line = validity_line(r)
    assert line.startswith("2 s, 640 queries; p99 interpolated; 20 power readings at 9.8 Hz (sensor 10 Hz")
    assert "foreign load 40.0% of 2 CPU(s)" in line and "peak RSS 91.5 MiB" in line and line.endswith("INVALID")
    assert top_operators_line(r) == "Conv 93.0% (0.31 ms), MaxPool 3.0% (0.01 ms)"
    assert throughput_at_sla_lines(summary([r])) == [
        "ort-int8 on local-myhost: 4,210 inf/s at batch 8, 2 in flight (p99 4.1 ms ≤ 5 ms)"
    ]


def test_a_record_with_queries_in_flight_says_so_in_its_batch_cell() -> None:
    one = record("ort-fp32")
    four = dataclasses.replace(record("ort-fp32"), id="ort-fp32/local-myhost/b8c4", concurrency=4)
    cells = {r.record.id: r.cells["batch"] for r in rows(summary([one, four]))}
    assert cells == {one.id: "8", four.id: "8 c4"}
