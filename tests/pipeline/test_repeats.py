"""Repeated windows (pipeline/repeats.py) and the ties they make in the ranking and the recommendation."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.constraints import Constraints
from pipeline.objectives import DEFAULT_OBJECTIVES, INFERENCES_PER_JOULE
from pipeline.rank import pareto_ranks, rank_records
from pipeline.recommend import recommend
from pipeline.record import Record
from pipeline.repeats import Spread, compare, coverage, figure_spread, median_interval, overlap

from .sample_results import record


def test_coverage_of_min_max_is_one_minus_two_to_the_one_minus_n() -> None:
    assert coverage(2, 1) == pytest.approx(0.5)
    assert coverage(3, 1) == pytest.approx(0.75)
    assert coverage(5, 1) == pytest.approx(1 - 2 / 32)
    assert coverage(6, 2) == pytest.approx(1 - 2 * 7 / 64)  # below 95%: N=6 keeps min..max (96.9%)
    with pytest.raises(ValueError):
        coverage(3, 3)


def test_the_interval_narrows_once_n_allows_95_percent_without_the_extremes() -> None:
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, pytest.approx(0.75))
    low, high, cover = median_interval([float(i) for i in range(1, 10)])  # N=9: k=2 gives 96.1%
    assert (low, high) == (2.0, 8.0) and cover == pytest.approx(1 - 2 * 10 / 512)
    assert figure_spread([5.0]) is None  # one window: no interval
    assert figure_spread([1.0, float("nan"), 3.0]).n == 2  # type: ignore[union-attr]


def test_overlap_and_compare() -> None:
    assert overlap((1, 3), (3, 4)) and not overlap((1, 2), (2.5, 4))
    assert compare((1, 2), (3, 4), 1.5, 3.5) == -1 and compare((3, 4), (1, 2), 3.5, 1.5) == 1
    assert compare((1, 3), (2, 4), 2.0, 3.0) == 0  # overlapping: tied although the medians differ
    assert compare(None, (2, 4), 2.0, 3.0) == -1  # one side without repeats: by the points


def repeated(rec: Record, ipj: tuple[float, ...], p99: tuple[float, ...] | None = None) -> Record:
    """``rec`` as the median of windows with these inferences per joule (and p99s)."""
    figures = {"inferences_per_joule": figure_spread(ipj)}
    if p99 is not None:
        figures["latency_p99_ms"] = figure_spread(p99)
    spread = Spread(n=len(ipj), windows=len(ipj), figures=figures)  # type: ignore[arg-type]
    ipj_median = figures["inferences_per_joule"].median  # type: ignore[union-attr]
    latency = rec.latency_ms
    if p99 is not None:
        latency = dataclasses.replace(latency, p99=figures["latency_p99_ms"].median)  # type: ignore[union-attr]
    return dataclasses.replace(
        rec, inferences_per_joule=ipj_median, repeats=len(ipj), spread=spread, latency_ms=latency
    )


def test_overlapping_intervals_do_not_dominate_in_the_pareto_ranking() -> None:
    # b is better on the point (300 > 290 inf/J, same everything else) but the intervals overlap
    assert pareto_ranks([[290.0], [300.0]], ["max"]) == [1, 0]
    assert pareto_ranks([[290.0], [300.0]], ["max"], [[(280.0, 305.0)], [(295.0, 310.0)]]) == [0, 0]
    assert pareto_ranks([[290.0], [300.0]], ["max"], [[(280.0, 292.0)], [(295.0, 310.0)]]) == [1, 0]


def test_overlapping_intervals_tie_and_the_tie_goes_to_less_loss_and_says_so() -> None:
    leader = repeated(record("int8", ipj=300, loss=0.004, p99=2.0), (290.0, 300.0, 310.0))
    fp32 = repeated(record("fp32", ipj=280, loss=0.0, p99=2.0, precision="fp32"), (270.0, 280.0, 295.0))
    records = [leader, fp32]
    ranking = rank_records(records, [INFERENCES_PER_JOULE], Constraints())
    assert ranking.rank(leader.id) == 0 and ranking.rank(fp32.id) == 0  # tied: both on the front
    rec = recommend(records, ranking, Constraints(), rule="first")
    assert rec is not None and rec.id == fp32.id
    expected = (
        "Tied on inferences per joule with int8/local-myhost/b8: intervals overlap (270..295 vs 290..310 inf/J, N=3)"
    )
    assert expected in rec.reason
    assert "less accuracy loss" in rec.reason


def test_separate_intervals_are_not_a_tie_even_within_five_percent() -> None:
    """Without repeats a 3% lead is within the 5% noise rule and goes to FP32; with intervals clear of
    each other the lead is real."""
    leader = record("int8", ipj=300, loss=0.004, p99=2.0)
    fp32 = record("fp32", ipj=291, loss=0.0, p99=2.0, precision="fp32")
    single = recommend([leader, fp32], rank_records([leader, fp32], [INFERENCES_PER_JOULE]), rule="first")
    assert single is not None and single.id == fp32.id  # the 5% rule
    leader = repeated(leader, (299.0, 300.0, 301.0))
    fp32 = repeated(fp32, (290.0, 291.0, 292.0))
    ranking = rank_records([leader, fp32], [INFERENCES_PER_JOULE])
    assert ranking.rank(fp32.id) == 1
    rec = recommend([leader, fp32], ranking, rule="first")
    assert rec is not None and rec.id == leader.id and "Tied" not in rec.reason


def test_with_equal_loss_the_tie_goes_to_the_lower_p99() -> None:
    a = repeated(record("a", ipj=300, loss=0.0, p99=3.0), (290.0, 300.0, 310.0), (2.9, 3.0, 3.1))
    b = repeated(record("b", ipj=295, loss=0.0, p99=2.0), (285.0, 295.0, 305.0), (1.9, 2.0, 2.1))
    rec = recommend([a, b], rank_records([a, b], DEFAULT_OBJECTIVES), rule="first")
    assert rec is not None and rec.id == b.id
    assert "the lower p99 (2 vs 3 ms)" in rec.reason and "N=3" in rec.reason


def test_a_leader_that_wins_its_tie_still_names_who_it_tied_with() -> None:
    a = repeated(record("a", ipj=300, loss=0.0, p99=2.0), (290.0, 300.0, 310.0), (1.9, 2.0, 2.1))
    b = repeated(record("b", ipj=295, loss=0.002, p99=2.0), (285.0, 295.0, 305.0), (1.9, 2.0, 2.1))
    rec = recommend([a, b], rank_records([a, b], DEFAULT_OBJECTIVES), rule="knee")
    assert rec is not None and rec.id == a.id
    assert "Tied on" in rec.reason and "b/local-myhost/b8" in rec.reason and "less accuracy loss" in rec.reason


def test_the_table_shows_half_the_range_as_a_share_of_the_median() -> None:
    from pipeline.report.view import spread_cell

    assert spread_cell(record("one")) == "–"  # a single window has no spread
    rec = repeated(record("three", ipj=300), (285.0, 300.0, 315.0))
    assert spread_cell(rec) == "±5.00% N=3"
