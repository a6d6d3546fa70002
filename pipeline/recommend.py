"""The build to deploy: drawn from the Pareto front, with a prudent tie-break inside run-to-run noise.

Among valid, constraint-satisfying records on the front, the one with the best figure for the
ranking's first objective (most inferences per joule by default; throughput where the ranking fell
back to it) leads, ties going to the lower p99. A lead smaller than one run can resolve is not
trusted: see :data:`INDISTINGUISHABLE`. The English is in :mod:`pipeline.recommend_text`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.objectives import ACCURACY_LOSS, LATENCY_P99, THROUGHPUT, Objective
from pipeline.rank import Constraints, Ranking, constraint_violations
from pipeline.recommend_text import close_call_reason, leader_reason
from pipeline.record import Record

#: Two figures from single timed windows closer than this (relative) are not told apart. Basis:
#: scripts/bench/run_to_run_spread.md, where eight 2 s windows of one build on 2 cores had a
#: coefficient of variation of 1-5.5% (max-min up to 13%). Among builds this close to the best, the
#: recommendation prefers less accuracy loss, then an FP32 build (nothing converted), then the best.
INDISTINGUISHABLE = 0.05


@dataclass(frozen=True)
class Recommendation:
    """The record to deploy, by id, and why, in one to three sentences."""

    id: str
    reason: str


def deciding_objective(ranking: Ranking) -> Objective:
    """The objective that picks the build among the front: the ranking's first (throughput if none)."""
    return ranking.objectives[0] if ranking.objectives else THROUGHPUT


def recommend(
    records: Sequence[Record], ranking: Ranking, constraints: Constraints | None = None
) -> Recommendation | None:
    """The build to deploy among ``records`` ranked by ``ranking``, or None when none qualifies."""
    constraints = constraints or Constraints()
    eligible = [
        r for r in records if ranking.rank(r.id) is not None and r.valid and not constraint_violations(r, constraints)
    ]
    candidates = [r for r in eligible if ranking.rank(r.id) == 0]
    if not candidates:
        return None
    metric = deciding_objective(ranking)
    pool = [r for r in candidates if metric.of(r) is not None] or candidates

    def key(r: Record) -> tuple[float, float]:
        p99 = LATENCY_P99.of(r)
        return (_oriented(metric, r), -(p99 if p99 is not None else math.inf))

    leader = max(pool, key=key)
    best = _prudent_choice(eligible, leader, metric)
    if best is leader:
        reason = leader_reason(best, records, ranking, metric, constraints)
    else:
        reason = close_call_reason(best, leader, metric, INDISTINGUISHABLE)
    return Recommendation(id=best.id, reason=reason)


def _oriented(metric: Objective, record: Record) -> float:
    """The record's figure with larger meaning better; -inf when it has none."""
    value = metric.of(record)
    if value is None:
        return -math.inf
    return value if metric.sense == "max" else -value


def _prudent_choice(eligible: Sequence[Record], leader: Record, metric: Objective) -> Record:
    """Among records that one run cannot tell from the leader (deciding figure and p99 both within
    INDISTINGUISHABLE), the one with least accuracy loss, then an FP32 build, then the best figure.
    Such a record may sit just off the front: one run's noise decides which of the two dominates."""
    top = metric.of(leader)
    if top is None or top <= 0:
        return leader
    lead_p99 = LATENCY_P99.of(leader)

    def indistinguishable(r: Record) -> bool:
        value = metric.of(r)
        if value is None:
            return False
        if metric.sense == "max" and value < top / (1.0 + INDISTINGUISHABLE):
            return False
        if metric.sense == "min" and value > top * (1.0 + INDISTINGUISHABLE):
            return False
        p99 = LATENCY_P99.of(r)
        return lead_p99 is None or p99 is None or p99 <= lead_p99 * (1.0 + INDISTINGUISHABLE)

    close = [r for r in eligible if indistinguishable(r)] or [leader]

    def prudence(r: Record) -> tuple[float, int, float]:
        loss = ACCURACY_LOSS.of(r)
        return (
            round(loss, 6) if loss is not None else math.inf,
            0 if r.is_fp32 else 1,
            -_oriented(metric, r),
        )

    chosen = min(close, key=prudence)
    return leader if prudence(chosen) == prudence(leader) else chosen
