"""A dynamic batcher in front of ``n`` identical devices, simulated request by request.

The batcher holds arriving requests in one queue. When a device is free it sends the oldest
requests, up to ``max_batch``, as soon as the queue holds ``max_batch`` requests or the oldest has
waited ``max_delay_s``, whichever comes first; a device that frees up after that moment sends at
once. (Triton's dynamic batcher behaves so with one preferred batch size and
``max_queue_delay_microseconds``.) With ``max_delay_s = 0`` a free device takes whatever is waiting.

Each request's end-to-end latency runs from its arrival to the end of its query, queueing included;
the p99 of those is what an SLA on the service is checked against.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from pipeline.planner.service import ServiceTimes

#: Requests simulated for a Poisson load unless more are needed for many devices (see ``requests_for``).
DEFAULT_REQUESTS = 10_000
MAX_REQUESTS = 200_000
SEED = 0


@dataclass(frozen=True)
class BatcherResult:
    """What the simulation saw: end-to-end latency percentiles (ms), device utilisation, batch sizes."""

    devices: int
    max_batch: int
    max_delay_ms: float
    requests: int
    p50_ms: float
    p99_ms: float
    mean_batch: float
    utilisation: float  # busy device-time / (devices x simulated span)


def poisson_arrivals(rate_per_s: float, count: int, seed: int = SEED) -> np.ndarray:
    """``count`` arrival times (s) of a Poisson process at ``rate_per_s``, seeded."""
    gaps = np.random.default_rng(seed).exponential(1.0 / rate_per_s, count)
    return np.cumsum(gaps) - gaps[0]


def requests_for(devices: int, max_batch: int) -> int:
    """Enough requests for a steady p99: 100 beyond it at the default, 50 full queries per device."""
    return int(min(MAX_REQUESTS, max(DEFAULT_REQUESTS, 50 * devices * max_batch)))


def simulate(
    arrivals: np.ndarray,
    devices: int,
    max_batch: int,
    max_delay_s: float,
    service: ServiceTimes,
    seed: int = SEED,
) -> BatcherResult:
    """Serve ``arrivals`` (sorted, s) with ``devices`` devices behind the dynamic batcher."""
    if devices < 1 or max_batch < 1 or max_delay_s < 0:
        raise ValueError("devices and max_batch must be >= 1 and max_delay_s >= 0")
    times = arrivals.tolist()
    n = len(times)
    draws = service.sampler(max_batch, draws=max(1024, n // max(1, max_batch) + 1), seed=seed)
    free = [float(times[0])] * devices  # when each device is next free (a heap)
    queue: deque[float] = deque()
    latencies: list[float] = []
    busy = 0.0
    batches = 0
    i = 0
    while i < n or queue:
        if not queue:
            queue.append(times[i])
            i += 1
        device_free = free[0]
        need = max_batch - len(queue)
        if need <= 0:
            ready = queue[max_batch - 1]
        else:
            full_at = times[i + need - 1] if i + need - 1 < n else float("inf")
            ready = min(queue[0] + max_delay_s, full_at)
        start = max(device_free, ready)
        while i < n and times[i] <= start and len(queue) < max_batch:
            queue.append(times[i])
            i += 1
        k = min(max_batch, len(queue))
        took = draws.draw(k)
        end = start + took
        for _ in range(k):
            latencies.append(end - queue.popleft())
        heapq.heapreplace(free, end)
        busy += took
        batches += 1
    span = max(max(free) - float(times[0]), 1e-12)
    lat = np.asarray(latencies) * 1000.0
    return BatcherResult(
        devices=devices,
        max_batch=max_batch,
        max_delay_ms=max_delay_s * 1000.0,
        requests=n,
        p50_ms=float(np.percentile(lat, 50)),
        p99_ms=float(np.percentile(lat, 99)),
        mean_batch=n / batches,
        utilisation=min(1.0, busy / (devices * span)),
    )
