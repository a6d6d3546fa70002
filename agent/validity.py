"""Whether a measurement can be trusted, and why: one :class:`~agent.protocol.Validity` per window.

The minimums follow from the figure being reported, not from habit:

- **p99**: with n queries, about n/100 lie above the 99th percentile. Below ``P99_MIN_QUERIES``
  (1000, so at least ten above it) the p99 is an interpolation between the slowest few queries and
  is flagged as one. The window is extended toward that many queries where time allows.
- **energy**: the power sampler refuses a figure whose readings do not cover the window at the
  sensor's achieved rate (:mod:`agent.power.sampler`); a refused figure makes the window invalid,
  because a report would otherwise show figures from a window whose energy could not be measured.
- **conditions**: a throttled window (clocks fell, a zone reached its trip point) measured a
  different machine at its end than at its start.
- **foreign load**: CPU time of other processes on the CPUs the worker could use, as a share of the
  window's CPU capacity. Above ``FOREIGN_LOAD_MAX`` the neighbours measured themselves too.
- **duration and count**: a window that could not reach its own minimums before its cap.
"""

from __future__ import annotations

from typing import List, Optional

from agent.proc_stats import CPUShare
from agent.protocol import LatencyStats, PowerReport, Validity

#: Queries a window needs for ten of them to lie above its 99th percentile.
P99_MIN_QUERIES = 1000
#: Other processes' CPU time above this share of the window's CPU capacity makes it invalid.
FOREIGN_LOAD_MAX = 0.15
#: A p99 this many times the p50 is worth a note: something else ran, or the model's work varies.
SPREAD_NOTE_RATIO = 5.0


def judge(
    *,
    window_s: float,
    queries: int,
    min_queries: int,
    min_duration_s: float,
    stats: LatencyStats,
    throttle_notes: List[str],
    power: Optional[PowerReport] = None,
    power_refused: str = "",
    cpu: Optional[CPUShare] = None,
) -> Validity:
    """The verdict on one window from what it measured; ``reasons`` is empty exactly when valid."""
    reasons: List[str] = []
    if window_s < min_duration_s or queries < min_queries:
        reasons.append(
            "window too short: %d queries in %.2f s (minimum %d queries, %.2f s) before the window's cap; the "
            "model is too slow for these settings" % (queries, window_s, min_queries, min_duration_s)
        )
    if throttle_notes:
        reasons.append("throttled: " + "; ".join(throttle_notes))
    if power_refused:
        reasons.append("power figure refused: " + power_refused)
    foreign_load = cpu.foreign_load if cpu is not None else None
    if cpu is not None and foreign_load is not None and foreign_load > FOREIGN_LOAD_MAX:
        reasons.append(
            "foreign load: other processes used %.2f CPU-s of the %.2f CPU-s the worker's %d CPU(s) had in "
            "the window (%.0f%%, more than %.0f%%); stop them or use an idle device"
            % (cpu.foreign_cpu_s, cpu.interval_s * cpu.cpus, cpu.cpus, foreign_load * 100, FOREIGN_LOAD_MAX * 100)
        )
    mean = stats.mean
    return Validity(
        valid=not reasons,
        reasons=reasons,
        window_s=window_s,
        queries=queries,
        min_queries=min_queries,
        min_duration_s=min_duration_s,
        p99_min_queries=P99_MIN_QUERIES,
        p99_is_interpolation=queries < P99_MIN_QUERIES,
        latency_cv=stats.stdev / mean if mean > 0 else 0.0,
        p99_over_p50=stats.p99 / stats.p50 if stats.p50 > 0 else 0.0,
        throttled=bool(throttle_notes),
        power_samples=power.samples if power is not None else None,
        power_rate_hz=power.rate_hz if power is not None else None,
        power_nominal_rate_hz=power.nominal_rate_hz if power is not None else None,
        power_max_gap_s=power.max_gap_s if power is not None else None,
        power_refused=power_refused,
        cpus=cpu.cpus if cpu is not None else None,
        worker_cpu_s=cpu.worker_cpu_s if cpu is not None else None,
        foreign_cpu_s=cpu.foreign_cpu_s if cpu is not None else None,
        foreign_load=foreign_load,
        foreign_load_max=FOREIGN_LOAD_MAX if cpu is not None else None,
    )


def notes_for(validity: Validity, stats: LatencyStats) -> List[str]:
    """Lines for the measurement's notes: what is worth knowing though not disqualifying. The reasons
    a window is invalid stay in ``validity.reasons``; the host's ranking quotes them in its
    "not ranked: invalid measurement: ..." note, so they are not repeated here."""
    notes: List[str] = []
    if validity.p99_is_interpolation:
        notes.append(
            "p99 from %d queries is an interpolation of the slowest few, not a measurement (%d needed for ten "
            "above it): lengthen --min-duration or lower the batch size" % (validity.queries, P99_MIN_QUERIES)
        )
    if validity.p99_over_p50 > SPREAD_NOTE_RATIO:
        notes.append("high latency spread: p99 is %.1fx p50 (other load on the device?)" % validity.p99_over_p50)
    return notes
