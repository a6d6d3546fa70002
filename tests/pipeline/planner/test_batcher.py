"""The dynamic batcher simulation (pipeline/planner/batcher.py), on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.planner.batcher import DEFAULT_REQUESTS, MAX_REQUESTS, poisson_arrivals, requests_for, simulate
from pipeline.planner.service import ServiceTimes

from .measured import latency

ONE_AND_EIGHT = ServiceTimes({1: latency(10.0), 8: latency(30.0)})


def test_requests_spaced_wider_than_a_query_never_queue():
    arrivals = np.arange(0.0, 10.0, 0.1)  # one every 100 ms, 10 ms each
    result = simulate(arrivals, 1, 8, 0.0, ONE_AND_EIGHT)
    assert result.p50_ms == pytest.approx(10.0) and result.p99_ms == pytest.approx(10.0)
    assert result.mean_batch == 1.0
    assert result.utilisation == pytest.approx(100 * 0.010 / (9.9 + 0.010))  # busy time over the span


def test_a_full_batch_goes_at_once_and_a_partial_one_waits_its_delay():
    service = ServiceTimes({2: latency(10.0)})
    # Two requests 1 ms apart with room for two: sent when the second arrives.
    both = simulate(np.array([0.0, 0.001]), 1, 2, 0.005, service)
    assert both.mean_batch == 2.0 and both.p99_ms == pytest.approx(11.0, abs=0.05)  # the first waited 1 ms
    # Two requests 20 ms apart, delay 5 ms: the first goes alone after its 5 ms.
    apart = simulate(np.array([0.0, 0.020]), 1, 2, 0.005, service)
    assert apart.mean_batch == 1.0 and apart.p99_ms == pytest.approx(15.0, abs=0.05)


def test_a_busy_device_collects_a_batch_while_it_works():
    arrivals = poisson_arrivals(200.0, 5000)
    unbatched = simulate(arrivals, 1, 1, 0.0, ONE_AND_EIGHT)
    batched = simulate(arrivals, 1, 8, 0.0, ONE_AND_EIGHT)
    assert unbatched.utilisation == pytest.approx(1.0) and unbatched.p99_ms > 1000  # 200/s into 100/s
    assert batched.mean_batch > 2 and batched.p99_ms < 100
    # More devices, shorter queues.
    assert simulate(arrivals, 3, 1, 0.0, ONE_AND_EIGHT).p99_ms < 40


def test_queries_run_at_the_measured_batch_size_they_are_padded_to():
    service = ServiceTimes({1: latency(10.0), 4: latency(20.0), 8: latency(30.0)})
    assert [service.padded(k) for k in (1, 2, 4, 5, 8)] == [1, 4, 4, 8, 8]
    with pytest.raises(ValueError, match="largest: 8"):
        service.padded(9)


def test_arrivals_are_seeded_and_enough_for_a_p99():
    a, b = poisson_arrivals(10.0, 1000), poisson_arrivals(10.0, 1000)
    assert np.array_equal(a, b) and a[0] == 0.0
    assert np.mean(np.diff(a)) == pytest.approx(0.1, rel=0.1)
    assert requests_for(1, 1) == DEFAULT_REQUESTS and requests_for(10_000, 64) == MAX_REQUESTS


def test_nonsense_settings_are_refused():
    with pytest.raises(ValueError, match="devices and max_batch"):
        simulate(np.array([0.0, 1.0]), 0, 1, 0.0, ONE_AND_EIGHT)
