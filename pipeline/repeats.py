"""Repeated windows of one build (``--repeats N``): the median of the N, their spread, and an interval
for the median that the ranking and the recommendation use to call two builds tied.

Why an order-statistic interval: with N of 2 to 10 windows nothing is known of the distribution of a
window's figure (a noisy neighbour makes it skewed), so the interval is distribution-free. For the
sorted figures x(1) <= ... <= x(N), P(x(k) <= true median <= x(N+1-k)) = 1 - 2 P(Binomial(N, 1/2) < k)
whatever the distribution. The largest k whose coverage is at least :data:`TARGET_COVERAGE` is used;
with N <= 5 no k reaches 95%, and the interval is min..max at its own coverage (N=2: 50%, N=3: 75%,
N=5: 94%), which the record states.

Pure functions over floats; :mod:`pipeline.record` applies them to the windows of each record.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TARGET_COVERAGE = 0.95
METHOD = (
    "median of the N windows, interleaved across variants (round 1 every variant, round 2 every variant, ...); "
    "interval: distribution-free confidence interval of the median from order statistics (binomial), "
    "[x(k), x(N+1-k)] with the largest k whose coverage is >= 95%, else min..max at its own coverage "
    "(N=2: 50%, N=3: 75%, N=4: 88%, N=5: 94%)"
)


@dataclass(frozen=True, kw_only=True)
class FigureSpread:
    """One figure over the N windows: ``values`` in round order, their median, min and max, and the
    interval for the median (``ci_low``..``ci_high``, with ``ci_coverage``, a probability)."""

    n: int
    median: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    ci_coverage: float
    values: tuple[float, ...]

    @property
    def interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


@dataclass(frozen=True, kw_only=True)
class Spread:
    """The spread of a record's figures over its repeated windows (figure name -> :class:`FigureSpread`)."""

    n: int  # windows the medians are taken over (valid ones; all when none was valid)
    windows: int  # windows measured, valid or not
    method: str = METHOD
    figures: Mapping[str, FigureSpread] = field(default_factory=dict)


def coverage(n: int, k: int) -> float:
    """Probability that [x(k), x(n+1-k)] holds the true median, for n independent windows."""
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"order statistic k={k} must be in 1..{(n + 1) // 2} for n={n}")
    below = sum(math.comb(n, i) for i in range(k))
    return 1.0 - 2.0 * below / 2.0**n


def median_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(low, high, coverage) of the distribution-free interval for the median of ``values`` (n >= 2)."""
    xs = sorted(values)
    n = len(xs)
    if n < 2:
        raise ValueError("an interval for the median needs at least 2 values")
    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(n, k + 1) >= TARGET_COVERAGE:
        k += 1
    return xs[k - 1], xs[n - k], coverage(n, k)


def figure_spread(values: Sequence[float]) -> FigureSpread | None:
    """The spread of one figure over its windows; None with fewer than 2 finite values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if len(xs) < 2:
        return None
    low, high, cover = median_interval(xs)
    return FigureSpread(
        n=len(xs),
        median=statistics.median(xs),
        min=min(xs),
        max=max(xs),
        ci_low=low,
        ci_high=high,
        ci_coverage=cover,
        values=tuple(xs),
    )


def median_or_none(values: Sequence[float | None]) -> float | None:
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    return statistics.median(xs) if xs else None


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when the closed intervals ``a`` and ``b`` share a point: the two cannot be told apart."""
    return a[0] <= b[1] and b[0] <= a[1]


def compare(a: tuple[float, float] | None, b: tuple[float, float] | None, x: float, y: float) -> int:
    """-1 when a is lower than b, 1 when higher, 0 when tied: by the intervals where both have one
    (overlapping = tied), else by the points ``x`` and ``y``."""
    if a is not None and b is not None:
        if overlap(a, b):
            return 0
        return -1 if a[1] < b[0] else 1
    return (x > y) - (x < y)
