"""The verdict on a window: each rule that makes it invalid, and the figures it carries."""

from __future__ import annotations

from agent.proc_stats import CPUShare
from agent.protocol import LatencyStats, PowerReport
from agent.validity import FOREIGN_LOAD_MAX, P99_MIN_QUERIES, judge, notes_for

STATS = LatencyStats(p50=1.0, p90=1.5, p99=2.0, mean=1.1, min=0.9, max=3.0, stdev=0.22)


def verdict(**over):  # type: ignore[no-untyped-def]
    args = dict(
        window_s=2.0, queries=1500, min_queries=50, min_duration_s=2.0, stats=STATS, throttle_notes=[],
        cpu=CPUShare(interval_s=2.0, cpus=2, worker_cpu_s=3.9, foreign_cpu_s=0.05),
    )  # fmt: skip
    args.update(over)
    return judge(**args)


def test_a_clean_window_is_valid_with_its_figures() -> None:
    v = verdict()
    assert v.valid and v.reasons == []
    assert not v.p99_is_interpolation and v.p99_min_queries == P99_MIN_QUERIES
    assert v.latency_cv == STATS.stdev / STATS.mean and v.p99_over_p50 == 2.0
    assert v.foreign_load == 0.05 / 4.0 and v.foreign_load_max == FOREIGN_LOAD_MAX
    assert v.worker_cpu_s == 3.9 and v.cpus == 2


def test_a_throttled_window_is_invalid() -> None:
    v = verdict(throttle_notes=["fastest CPU clock fell from 3000 to 2000 MHz during the window: throttled?"])
    assert not v.valid and v.throttled and v.reasons[0].startswith("throttled: fastest CPU clock fell")


def test_a_refused_power_figure_makes_the_window_invalid() -> None:
    v = verdict(power_refused="a 0.900 s gap in the readings")
    assert not v.valid and "power figure refused: a 0.900 s gap" in v.reasons[0]


def test_foreign_load_above_the_threshold_is_invalid() -> None:
    v = verdict(cpu=CPUShare(interval_s=2.0, cpus=2, worker_cpu_s=2.0, foreign_cpu_s=2.0))  # one CPU spun
    assert not v.valid and v.foreign_load == 0.5
    assert "foreign load: other processes used 2.00 CPU-s of the 4.00 CPU-s" in v.reasons[0]


def test_too_short_and_an_interpolated_p99() -> None:
    v = verdict(window_s=1.0, queries=30)
    assert not v.valid and "window too short: 30 queries in 1.00 s" in v.reasons[0]
    assert v.p99_is_interpolation
    notes = notes_for(v, STATS)
    assert any("interpolation of the slowest few" in n for n in notes)


def test_power_figures_are_carried() -> None:
    power = PowerReport(
        avg_w=5.0, source="rapl", estimated=False, samples=40, rate_hz=19.5, energy_j=10.0,
        nominal_rate_hz=20.0, max_gap_s=0.07,
    )  # fmt: skip
    v = verdict(power=power)
    assert (v.power_samples, v.power_rate_hz, v.power_nominal_rate_hz, v.power_max_gap_s) == (40, 19.5, 20.0, 0.07)


def test_spread_is_noted_but_not_disqualifying() -> None:
    wide = LatencyStats(p50=1.0, p90=3.0, p99=8.0, mean=1.5, min=0.9, max=9.0, stdev=1.0)
    v = verdict(stats=wide)
    assert v.valid and any("high latency spread: p99 is 8.0x p50" in n for n in notes_for(v, wide))
