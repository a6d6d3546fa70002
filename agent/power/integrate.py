"""Pure arithmetic over timestamped readings: linear interpolation and exact trapezoid integration.

The sampler turns a list of ``PowerSample`` into a window figure with these two functions; they take
plain sequences so that tests can check them against hand-computed values. Readings are treated as
a piecewise-linear function of time through the sample points; integrating that function over
``[t0, t1]`` with both edges interpolated is exact for it, whatever the sample spacing.
"""

from __future__ import annotations

import bisect
from typing import Sequence


def _check(ts: Sequence[float], vs: Sequence[float]) -> None:
    if len(ts) != len(vs):
        raise ValueError("times and values differ in length: %d vs %d" % (len(ts), len(vs)))
    if len(ts) < 2:
        raise ValueError("need at least two points, got %d" % len(ts))
    for a, b in zip(ts, ts[1:]):
        if b < a:
            raise ValueError("times must be non-decreasing (%r after %r)" % (b, a))


def interpolate(ts: Sequence[float], vs: Sequence[float], t: float) -> float:
    """Value at ``t`` of the piecewise-linear function through ``(ts[i], vs[i])``.

    ``t`` must lie within ``[ts[0], ts[-1]]``: extrapolating past the readings would invent data.
    """
    _check(ts, vs)
    if t < ts[0] or t > ts[-1]:
        raise ValueError("t=%r lies outside the readings [%r, %r]" % (t, ts[0], ts[-1]))
    i = bisect.bisect_right(ts, t)  # ts[i - 1] <= t < ts[i]; i >= 1 because t >= ts[0]
    if i >= len(ts):
        return float(vs[-1])
    ta, tb = ts[i - 1], ts[i]
    return float(vs[i - 1] + (vs[i] - vs[i - 1]) * (t - ta) / (tb - ta))


def integrate_trapezoid(ts: Sequence[float], vs: Sequence[float], t0: float, t1: float) -> float:
    """Integral over exactly ``[t0, t1]`` of the piecewise-linear function through the points.

    The readings must cover the window (``ts[0] <= t0`` and ``ts[-1] >= t1``); segments that cross
    an edge are cut there, with the value at the edge interpolated. Units: value-units × seconds
    (watts in, joules out).
    """
    _check(ts, vs)
    if t1 < t0:
        raise ValueError("window end %r precedes its start %r" % (t1, t0))
    if t0 < ts[0] or t1 > ts[-1]:
        raise ValueError("readings [%r, %r] do not cover the window [%r, %r]" % (ts[0], ts[-1], t0, t1))
    total = 0.0
    for i in range(len(ts) - 1):
        ta, tb = ts[i], ts[i + 1]
        lo, hi = max(ta, t0), min(tb, t1)
        if hi <= lo:
            continue
        va, vb = float(vs[i]), float(vs[i + 1])
        span = tb - ta
        v_lo = va + (vb - va) * (lo - ta) / span
        v_hi = va + (vb - va) * (hi - ta) / span
        total += 0.5 * (v_lo + v_hi) * (hi - lo)
    return total
