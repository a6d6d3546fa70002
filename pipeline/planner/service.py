"""How long one device takes to serve a query of k requests, from the latencies measured per batch size.

A query of ``k`` requests runs at the smallest measured batch size ``b >= k``, padded (what a runtime
with fixed batch shapes does; no latency is invented between measured sizes). Its time is drawn from
the measured distribution at ``b``: a piecewise-linear quantile function through min, p50, p90, p99
and max of the measured window. Draws are seeded, so a plan is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from agent.protocol import LatencyStats

#: Quantile levels of the LatencyStats fields the distribution is drawn through.
_LEVELS = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))


def quantile_points(stats: LatencyStats) -> tuple[list[float], list[float]]:
    """(levels, seconds) through the finite, non-decreasing figures of ``stats``."""
    levels, values = [], []
    for name, level in _LEVELS:
        value = getattr(stats, name, None)
        if value is None or not math.isfinite(value) or value <= 0:
            continue
        seconds = value / 1000.0
        if values and seconds < values[-1]:
            seconds = values[-1]  # a max below p99 (rounding): keep the function non-decreasing
        levels.append(level)
        values.append(seconds)
    if not values:
        mean = getattr(stats, "mean", math.nan)
        if not (math.isfinite(mean) and mean > 0):
            raise ValueError("a latency distribution needs at least one positive figure (p50, p99 or mean)")
        return [0.0, 1.0], [mean / 1000.0, mean / 1000.0]
    if levels[0] > 0.0:
        levels.insert(0, 0.0)
        values.insert(0, values[0])
    if levels[-1] < 1.0:
        levels.append(1.0)
        values.append(values[-1])
    return levels, values


@dataclass(frozen=True)
class ServiceTimes:
    """Per-query latency distributions of one build on one device kind, by measured batch size."""

    by_batch: Mapping[int, LatencyStats]

    def __post_init__(self) -> None:
        if not self.by_batch:
            raise ValueError("service times need at least one measured batch size")

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self.by_batch))

    def padded(self, k: int) -> int:
        """The measured batch size a query of ``k`` requests runs at (k <= the largest measured)."""
        for b in self.batch_sizes:
            if b >= k:
                return b
        raise ValueError(f"no measured batch size holds {k} requests (largest: {self.batch_sizes[-1]})")

    def p99_s(self, batch: int) -> float:
        levels, values = quantile_points(self.by_batch[batch])
        return float(np.interp(0.99, levels, values))

    def mean_s(self, batch: int) -> float:
        """The mean of the drawn distribution (the trapezoid integral of the quantile function)."""
        levels, values = quantile_points(self.by_batch[batch])
        return float(sum((values[i] + values[i + 1]) / 2 * (levels[i + 1] - levels[i]) for i in range(len(levels) - 1)))

    def capacity_ips(self, batch: int) -> float:
        """Requests per second one device serves running full queries of ``batch`` back to back."""
        return batch / self.mean_s(batch)

    def sampler(self, max_batch: int, draws: int, seed: int) -> ServiceSampler:
        rng = np.random.default_rng(seed)
        tables = {}
        for b in self.batch_sizes:
            if b > max_batch and b != self.padded(max_batch):
                continue
            levels, values = quantile_points(self.by_batch[b])
            tables[b] = np.interp(rng.random(draws), levels, values).tolist()
        return ServiceSampler(self, tables)

    def scaled(self, factor: float) -> ServiceTimes:
        """Every latency times ``factor`` (a projection onto a faster or slower device)."""
        return ServiceTimes(
            {
                b: LatencyStats(
                    p50=s.p50 * factor,
                    p90=s.p90 * factor,
                    p99=s.p99 * factor,
                    mean=s.mean * factor,
                    min=s.min * factor,
                    max=s.max * factor,
                    stdev=s.stdev * factor,
                )
                for b, s in self.by_batch.items()
            }
        )


class ServiceSampler:
    """Seeded draws of query times, one table per measured batch size, cycled through."""

    def __init__(self, times: ServiceTimes, tables: Mapping[int, list[float]]) -> None:
        self._times = times
        self._tables = dict(tables)
        self._next = dict.fromkeys(tables, 0)

    def draw(self, k: int) -> float:
        """Seconds one query of ``k`` requests takes."""
        b = self._times.padded(k)
        table = self._tables[b]
        i = self._next[b]
        self._next[b] = (i + 1) % len(table)
        return table[i]
