"""The timed window: queries until the plan's minimums are met, one at a time or several in flight.

Vocabulary follows MLPerf LoadGen: a *query* is one call to the runtime (one batch), a *sample* is
one inference. Only the runtime call sits between the clock reads; inputs are prepared before the
window opens and the stopping rule is a few comparisons, so the bookkeeping costs well under a
microsecond per query.

A window stops once it has lasted ``min_duration_s`` and run ``min_queries`` queries, and then
keeps going toward ``target_queries`` (for a p99 that is a measurement rather than an interpolation
of the slowest few queries, :data:`agent.validity.P99_MIN_QUERIES`) for as long as time allows: up
to ``extend_until_s`` (``P99_EXTENSION_FACTOR`` times the minimum duration, so a slow model costs at
most that factor). It never runs past ``max_duration_s`` (a slow model that cannot reach its
minimums, or the job's deadline): the queries it has are then judged by :mod:`agent.validity`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

#: A window stops at max(10 x its minimum duration, 30 s) even if its minimums are not reached.
MAX_WINDOW_FACTOR = 10.0
MAX_WINDOW_FLOOR_S = 30.0
#: Once its minimums are met, a window is extended toward its p99 target for up to this many times
#: its minimum duration.
P99_EXTENSION_FACTOR = 3.0

Feeds = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """When a window may stop: both minimums met and the query target reached (or the extension
    spent), or the cap."""

    min_duration_s: float
    min_queries: int
    target_queries: int
    max_duration_s: float
    extend_until_s: float = 0.0

    @classmethod
    def build(
        cls,
        min_duration_s: float,
        min_queries: int,
        p99_queries: int,
        iterations: int = 0,
        max_duration_s: Optional[float] = None,
    ) -> WindowPlan:
        """By duration (extend toward ``p99_queries``) or, with ``iterations``, by query count: then
        ``min_duration_s`` is only what the power sensor needs, and the target is the count itself."""
        cap = max(min_duration_s * MAX_WINDOW_FACTOR, MAX_WINDOW_FLOOR_S)
        if max_duration_s is not None:
            cap = min(cap, max(max_duration_s, min_duration_s))
        if iterations > 0:
            return cls(min_duration_s, iterations, iterations, cap, cap)
        extend = min(cap, max(min_duration_s * P99_EXTENSION_FACTOR, min_duration_s))
        return cls(min_duration_s, min_queries, max(min_queries, p99_queries), cap, extend)

    def done(self, elapsed_s: float, queries: int) -> bool:
        if elapsed_s >= self.max_duration_s:
            return True
        if elapsed_s < self.min_duration_s or queries < self.min_queries:
            return False
        return queries >= self.target_queries or elapsed_s >= self.extend_until_s


@dataclasses.dataclass(frozen=True)
class WindowTimes:
    """What a window measured: per-query latencies (s), its edges on ``time.monotonic()`` (for the
    power figure) and its wall time on ``time.perf_counter()`` (for throughput)."""

    latencies_s: List[float]
    t0: float
    t1: float
    wall_s: float
    concurrency: int = 1


def run_window(infer: Callable[[Feeds], Any], batches: List[Feeds], plan: WindowPlan) -> WindowTimes:
    """One query at a time until ``plan`` says stop."""
    latencies: List[float] = []
    append = latencies.append
    n = len(batches)
    perf = time.perf_counter
    done = plan.done
    t0 = time.monotonic()
    start = perf()
    i = 0
    while True:
        q0 = perf()
        infer(batches[i % n])
        q1 = perf()
        append(q1 - q0)
        i += 1
        if done(q1 - start, i):
            break
    wall = perf() - start
    return WindowTimes(latencies, t0, time.monotonic(), wall)


def threaded_window(
    infers: List[Callable[[Feeds], Any]], batches: List[Feeds], plan: WindowPlan, poll_s: float = 0.002
) -> WindowTimes:
    """``len(infers)`` queries in flight, one thread each, until ``plan`` says stop. Each infer must
    release the GIL while it runs (ONNX Runtime's ``run``, an OpenVINO request's ``infer``). Queries
    in flight when the plan is met are waited for and counted: the window ends at the last one."""
    per_thread: List[List[float]] = [[] for _ in infers]
    ends = [0.0] * len(infers)
    stop = threading.Event()
    perf = time.perf_counter
    n = len(batches)
    errors: List[BaseException] = []

    def loop(k: int) -> None:
        out = per_thread[k].append
        i = k
        try:
            while not stop.is_set():
                q0 = perf()
                infers[k](batches[i % n])
                q1 = perf()
                out(q1 - q0)
                ends[k] = q1
                i += len(infers)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(len(infers))]
    t0 = time.monotonic()
    start = perf()
    for t in threads:
        t.start()
    while not stop.is_set():
        time.sleep(poll_s)
        if plan.done(perf() - start, sum(len(x) for x in per_thread)):
            stop.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    wall = max(ends) - start if any(ends) else perf() - start
    latencies = [x for lat in per_thread for x in lat]
    return WindowTimes(latencies, t0, t0 + wall, wall, concurrency=len(infers))


def warm_up(infer: Callable[[Feeds], Any], batches: List[Feeds], warmup_s: float) -> int:
    """Run untimed queries for ``warmup_s`` (at least one). Returns how many ran."""
    end = time.perf_counter() + warmup_s
    i = 0
    while True:
        infer(batches[i % len(batches)])
        i += 1
        if time.perf_counter() >= end:
            return i
