"""The timed window's stopping rule, one query at a time and several in flight."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from agent.window import MAX_WINDOW_FLOOR_S, P99_EXTENSION_FACTOR, WindowPlan, run_window, threaded_window

BATCHES = [{"x": np.zeros((1, 4), np.float32)}]


def sleeper(seconds: float):  # type: ignore[no-untyped-def]
    def infer(feeds):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return [feeds["x"]]

    return infer


def test_the_plan_extends_toward_the_p99_target_only_as_long_as_the_extension_allows() -> None:
    plan = WindowPlan.build(min_duration_s=1.0, min_queries=50, p99_queries=1000)
    assert (plan.target_queries, plan.extend_until_s) == (1000, P99_EXTENSION_FACTOR * 1.0)
    assert not plan.done(0.5, 5000)  # the minimum duration first
    assert not plan.done(1.2, 40)  # then the minimum count
    assert not plan.done(1.2, 600)  # then toward 1000 queries ...
    assert plan.done(1.2, 1000)
    assert plan.done(3.0, 600)  # ... until the extension is spent: the p99 is then flagged
    assert plan.max_duration_s == MAX_WINDOW_FLOOR_S and plan.done(MAX_WINDOW_FLOOR_S, 10)


def test_iterations_replace_the_duration_and_the_p99_target() -> None:
    plan = WindowPlan.build(min_duration_s=0.0, min_queries=50, p99_queries=1000, iterations=200)
    assert not plan.done(0.01, 199) and plan.done(0.01, 200)
    with_sensor = WindowPlan.build(min_duration_s=0.6, min_queries=50, p99_queries=1000, iterations=200)
    assert not with_sensor.done(0.3, 200) and with_sensor.done(0.6, 200)  # the power sensor's floor


def test_a_deadline_share_caps_the_window() -> None:
    plan = WindowPlan.build(min_duration_s=1.0, min_queries=50, p99_queries=1000, max_duration_s=1.5)
    assert plan.max_duration_s == 1.5 and plan.done(1.5, 10)
    # never below the minimum duration itself
    assert WindowPlan.build(1.0, 50, 1000, max_duration_s=0.2).max_duration_s == 1.0


def test_run_window_stops_at_the_target_and_times_each_query() -> None:
    plan = WindowPlan(min_duration_s=0.0, min_queries=5, target_queries=20, max_duration_s=10.0, extend_until_s=10.0)
    times = run_window(sleeper(0.002), BATCHES, plan)
    assert len(times.latencies_s) == 20
    assert all(lat >= 0.002 for lat in times.latencies_s)
    assert times.wall_s >= sum(times.latencies_s) and times.t1 > times.t0
    assert times.concurrency == 1


def test_queries_in_flight_overlap_and_all_complete() -> None:
    in_flight = []
    lock = threading.Lock()
    now = [0]

    def infer(feeds):  # type: ignore[no-untyped-def]
        with lock:
            now[0] += 1
            in_flight.append(now[0])
        time.sleep(0.01)
        with lock:
            now[0] -= 1
        return [feeds["x"]]

    plan = WindowPlan.build(min_duration_s=0.2, min_queries=10, p99_queries=0)
    times = threaded_window([infer] * 4, BATCHES, plan)

    assert times.concurrency == 4 and max(in_flight) == 4
    assert now[0] == 0  # every query in flight at the stop was waited for
    # four sleepers of 10 ms: about 400 queries/s, well above one at a time
    assert len(times.latencies_s) / times.wall_s > 250


def test_an_error_in_a_thread_reaches_the_caller() -> None:
    def broken(feeds):  # type: ignore[no-untyped-def]
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):
        threaded_window([broken, broken], BATCHES, WindowPlan.build(0.1, 1, 0))
