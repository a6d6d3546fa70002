"""Query times from measured latencies (pipeline/planner/service.py)."""

from __future__ import annotations

import math

import pytest

from agent.protocol import LatencyStats
from pipeline.planner.service import ServiceTimes, quantile_points

from .measured import latency

SPREAD = LatencyStats(p50=10.0, p90=14.0, p99=20.0, mean=11.0, min=8.0, max=30.0, stdev=2.0)


def test_the_distribution_runs_through_the_measured_percentiles():
    levels, seconds = quantile_points(SPREAD)
    assert levels == [0.0, 0.5, 0.9, 0.99, 1.0]
    assert seconds == pytest.approx([0.008, 0.010, 0.014, 0.020, 0.030])
    times = ServiceTimes({1: SPREAD})
    assert times.p99_s(1) == pytest.approx(0.020)
    # The trapezoids of the quantile function: its mean.
    mean = (0.5 * (0.008 + 0.010) + 0.4 * (0.010 + 0.014) + 0.09 * (0.014 + 0.020) + 0.01 * (0.020 + 0.030)) / 2
    assert times.mean_s(1) == pytest.approx(mean)
    draws = times.sampler(1, draws=20_000, seed=3)
    sample = sorted(draws.draw(1) for _ in range(20_000))
    assert sample[len(sample) // 2] == pytest.approx(0.010, rel=0.02)
    assert min(sample) >= 0.008 and max(sample) <= 0.030


def test_missing_figures_are_skipped_and_a_max_below_p99_is_kept_monotone():
    stats = LatencyStats(p50=10.0, p90=math.nan, p99=20.0, mean=11.0, min=8.0, max=19.0, stdev=1.0)
    levels, seconds = quantile_points(stats)
    assert levels == [0.0, 0.5, 0.99, 1.0] and seconds[-1] == seconds[-2] == pytest.approx(0.020)
    only_mean = LatencyStats(p50=math.nan, p90=math.nan, p99=math.nan, mean=5.0, min=math.nan, max=math.nan, stdev=0)
    assert quantile_points(only_mean) == ([0.0, 1.0], [0.005, 0.005])


def test_capacity_and_scaling():
    times = ServiceTimes({1: latency(10.0), 8: latency(40.0)})
    assert times.capacity_ips(1) == pytest.approx(100.0) and times.capacity_ips(8) == pytest.approx(200.0)
    faster = times.scaled(0.5)
    assert faster.p99_s(8) == pytest.approx(0.020) and faster.batch_sizes == (1, 8)
    with pytest.raises(ValueError, match="at least one measured batch size"):
        ServiceTimes({})
