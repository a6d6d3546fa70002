"""The build to deploy, chosen among the feasible records by a rule the report states.

Rules (:data:`RULES`):

- ``cheapest``: the feasible record with the lowest cost per million inferences (the article's
  business metric), with a prudent tie-break inside run-to-run noise;
- ``knee``: the knee of the Pareto front: each objective is scaled to 0-1 across the front (1 = the
  front's best), and the record nearest the ideal point (1, …, 1) wins; an objective whose figures
  on the front differ by no more than :data:`INDISTINGUISHABLE` is left out of the distance;
- ``first``: the front's best on the ranking's first objective, ties to the lower p99, with the
  prudent tie-break;
- ``auto`` (the default): ``cheapest`` when the ranking used cost per million and every record on the
  front has it, else ``knee``.

A lead smaller than one run can resolve is not trusted: see :data:`INDISTINGUISHABLE`. With repeated
windows (``--repeats``), the records' intervals for the median decide instead: two builds whose
intervals overlap are tied, and the tie goes to less accuracy loss, then the lower p99, then FP32
(:data:`pipeline.recommend_text.TIE_RULE`). The English is in :mod:`pipeline.recommend_text`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.constraints import Constraints, constraint_violations
from pipeline.objectives import ACCURACY_LOSS, COST_PER_MILLION, LATENCY_P99, THROUGHPUT, Objective
from pipeline.rank import Ranking
from pipeline.recommend_text import (
    cheapest_reason,
    close_call_reason,
    knee_close_call_reason,
    knee_reason,
    leader_reason,
    tie_sentence,
    tied_reason,
)
from pipeline.record import Record
from pipeline.repeats import compare, overlap

#: Two figures from single timed windows closer than this (relative) are not told apart. Basis:
#: scripts/bench/run_to_run_spread.md, where eight 2 s windows of one build on 2 cores had a
#: coefficient of variation of 1-5.5% (max-min up to 13%). Among builds this close to the best, the
#: recommendation prefers less accuracy loss, then an FP32 build (nothing converted), then the best.
INDISTINGUISHABLE = 0.05
RULES = ("auto", "knee", "cheapest", "first")


@dataclass(frozen=True)
class Recommendation:
    """The record to deploy, by id, why (in figures), and the rule that chose it."""

    id: str
    reason: str
    rule: str = "first"  # the rule applied: "knee", "cheapest" or "first"


def deciding_objective(ranking: Ranking) -> Objective:
    """The objective that picks the build among the front: the ranking's first (throughput if none)."""
    return ranking.objectives[0] if ranking.objectives else THROUGHPUT


def resolve_rule(rule: str, ranking: Ranking, front: Sequence[Record]) -> str:
    """The rule ``auto`` stands for here: cheapest when every front record has a ranked cost, else knee."""
    if rule not in RULES:
        raise ValueError(f"the recommendation rule must be one of {', '.join(RULES)}, not {rule!r}")
    if rule != "auto":
        return rule
    cost = next((o for o in ranking.objectives if o.name == COST_PER_MILLION.name), None)
    if cost is not None and front and all(cost.of(r) is not None for r in front):
        return "cheapest"
    return "knee"


def recommend(
    records: Sequence[Record], ranking: Ranking, constraints: Constraints | None = None, rule: str = "auto"
) -> Recommendation | None:
    """The build to deploy among ``records`` ranked by ``ranking`` under ``rule``, or None when none qualifies."""
    constraints = constraints or Constraints()
    eligible = [
        r for r in records if ranking.rank(r.id) is not None and r.valid and not constraint_violations(r, constraints)
    ]
    candidates = [r for r in eligible if ranking.rank(r.id) == 0]
    if not candidates:
        return None
    applied = resolve_rule(rule, ranking, candidates)
    if applied == "knee":
        distances = knee_distances(candidates, ranking.objectives)
        knee = min(candidates, key=lambda r: (distances[r.id], *_lead_key(deciding_objective(ranking), r)))
        performance = [o for o in ranking.objectives if o.name != ACCURACY_LOSS.name]
        tied = interval_ties(eligible, knee, performance)
        if tied is not None:
            best = min(tied, key=tie_key)
            reason = knee_reason(best, records, ranking, distances, constraints) if best is knee else ""
            reason = _with_ties(reason, best, knee, tied, ranking, performance)
            return Recommendation(id=best.id, reason=reason, rule="knee")
        best = _prudent_choice(eligible, knee, performance)
        if best is knee:
            reason = knee_reason(best, records, ranking, distances, constraints)
        else:
            reason = knee_close_call_reason(best, knee, ranking, INDISTINGUISHABLE)
        return Recommendation(id=best.id, reason=reason, rule="knee")
    if applied == "cheapest":
        cost = next(o for o in ranking.objectives if o.name == COST_PER_MILLION.name)
        pool = [r for r in eligible if cost.of(r) is not None]
        leader = min(pool, key=lambda r: _lead_key(cost, r))
        tied = interval_ties(eligible, leader, [cost])
        if tied is not None:
            best = min(tied, key=tie_key)
            reason = cheapest_reason(best, leader, pool, ranking, cost, constraints, 0) if best is leader else ""
            reason = _with_ties(reason, best, leader, tied, ranking, [cost])
            return Recommendation(id=best.id, reason=reason, rule="cheapest")
        best = _prudent_choice(eligible, leader, [cost])
        reason = cheapest_reason(best, leader, pool, ranking, cost, constraints, INDISTINGUISHABLE)
        return Recommendation(id=best.id, reason=reason, rule="cheapest")
    metric = deciding_objective(ranking)
    pool = [r for r in candidates if metric.of(r) is not None] or candidates
    leader = min(pool, key=lambda r: _lead_key(metric, r))
    tied = interval_ties(eligible, leader, [metric])
    if tied is not None:
        best = min(tied, key=tie_key)
        reason = leader_reason(best, records, ranking, metric, constraints) if best is leader else ""
        reason = _with_ties(reason, best, leader, tied, ranking, [metric])
        return Recommendation(id=best.id, reason=reason, rule="first")
    best = _prudent_choice(eligible, leader, [metric])
    if best is leader:
        reason = leader_reason(best, records, ranking, metric, constraints)
    else:
        reason = close_call_reason(best, leader, metric, INDISTINGUISHABLE)
    return Recommendation(id=best.id, reason=reason, rule="first")


def interval_ties(eligible: Sequence[Record], leader: Record, metrics: Sequence[Objective]) -> list[Record] | None:
    """The records tied with ``leader`` by their repeated windows (``leader`` first): on each of
    ``metrics`` their interval overlaps the leader's (or is better), and their p99 interval is not
    above the leader's; a metric without intervals compares the figures. None when the leader has no
    interval on any metric (one window each): the :data:`INDISTINGUISHABLE` rule applies then."""
    if not metrics or all(m.interval(leader) is None for m in metrics):
        return None

    def not_worse(metric: Objective, r: Record) -> bool:
        value, top = metric.of(r), metric.of(leader)
        if value is None or top is None:
            return False
        order = compare(metric.interval(r), metric.interval(leader), value, top)
        return order >= 0 if metric.sense == "max" else order <= 0

    def p99_not_worse(r: Record) -> bool:
        p99, lead = LATENCY_P99.of(r), LATENCY_P99.of(leader)
        if p99 is None or lead is None:
            return True
        return compare(LATENCY_P99.interval(r), LATENCY_P99.interval(leader), p99, lead) <= 0

    others = [r for r in eligible if r is not leader and all(not_worse(m, r) for m in metrics) and p99_not_worse(r)]
    return [leader, *others]


def tie_key(r: Record) -> tuple[float, float, int]:
    """:data:`pipeline.recommend_text.TIE_RULE` as a sort key: less accuracy loss, then the lower p99 (the median of the
    repeats), then an FP32 build."""
    loss = ACCURACY_LOSS.of(r)
    p99 = LATENCY_P99.of(r)
    return (
        round(loss, 6) if loss is not None else math.inf,
        p99 if p99 is not None else math.inf,
        0 if r.is_fp32 else 1,
    )


def _with_ties(
    reason: str, best: Record, leader: Record, tied: Sequence[Record], ranking: Ranking, metrics: Sequence[Objective]
) -> str:
    """The recommendation's reason with the ties said: a tied build that is not the leader gets
    :func:`tied_reason`; a leader with ties gets the sentence after its own reason."""
    if best is not leader:
        return tied_reason(best, leader, tied, ranking, metrics[0])
    sentence = tie_sentence(best, [r for r in tied if r is not best], metrics[0])
    return reason + (" " + sentence if sentence else "")


def _lead_key(metric: Objective, r: Record) -> tuple[float, float]:
    """Sort key, best first: the metric oriented to "smaller is better", then the lower p99."""
    p99 = LATENCY_P99.of(r)
    return (-_oriented(metric, r), p99 if p99 is not None else math.inf)


def knee_distances(front: Sequence[Record], objectives: Sequence[Objective]) -> dict[str, float]:
    """Record id -> distance to the ideal point, each objective scaled 0-1 across ``front`` (0 = the
    front's best). Objectives whose spread on the front is within :data:`INDISTINGUISHABLE` are left out."""
    squares = {r.id: 0.0 for r in front}
    for objective in objectives:
        values = {r.id: objective.of(r) for r in front}
        known = [v for v in values.values() if v is not None]
        if len(known) < 2:
            continue
        lo, hi = min(known), max(known)
        spread = hi - lo
        spans = [objective.interval(r) for r in front if values[r.id] is not None]
        if all(span is not None for span in spans):  # repeated windows: left out when every pair overlaps
            if all(overlap(a, b) for a in spans for b in spans if a is not None and b is not None):
                continue
        elif spread <= INDISTINGUISHABLE * max(abs(lo), abs(hi)):
            continue
        if not math.isfinite(spread) or spread == 0:
            continue
        best = hi if objective.sense == "max" else lo
        for rid, v in values.items():
            squares[rid] += 1.0 if v is None else ((best - v) / spread) ** 2
    return {rid: math.sqrt(sq) for rid, sq in squares.items()}


def _oriented(metric: Objective, record: Record) -> float:
    """The record's figure with larger meaning better; -inf when it has none."""
    value = metric.of(record)
    if value is None:
        return -math.inf
    return value if metric.sense == "max" else -value


def _prudent_choice(eligible: Sequence[Record], leader: Record, metrics: Sequence[Objective]) -> Record:
    """Among records that one run cannot tell from the leader (each of ``metrics`` and p99 within
    INDISTINGUISHABLE), the one with least accuracy loss, then an FP32 build, then the best figure
    on the first metric. Such a record may sit just off the front: one run's noise decides which of
    the two dominates."""
    tops = [(m, m.of(leader)) for m in metrics]
    if not tops or any(top is None or top < 0 for _, top in tops) or all(top == 0 for _, top in tops):
        return leader
    lead_p99 = LATENCY_P99.of(leader)

    def within(metric: Objective, top: float | None, value: float | None) -> bool:
        if value is None or top is None:
            return False
        if metric.sense == "max":
            return value >= top / (1.0 + INDISTINGUISHABLE)
        return value <= top * (1.0 + INDISTINGUISHABLE)

    def indistinguishable(r: Record) -> bool:
        if not all(within(m, top, m.of(r)) for m, top in tops):
            return False
        p99 = LATENCY_P99.of(r)
        return lead_p99 is None or p99 is None or p99 <= lead_p99 * (1.0 + INDISTINGUISHABLE)

    close = [r for r in eligible if indistinguishable(r)] or [leader]
    first = metrics[0]

    def prudence(r: Record) -> tuple[float, int, float]:
        loss = ACCURACY_LOSS.of(r)
        return (
            round(loss, 6) if loss is not None else math.inf,
            0 if r.is_fp32 else 1,
            -_oriented(first, r),
        )

    chosen = min(close, key=prudence)
    return leader if prudence(chosen) == prudence(leader) else chosen
