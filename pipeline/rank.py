"""Non-dominated sorting of records under the objectives, within the run's constraints.

Pure functions: nothing here does I/O, and records are never changed; the result is a
:class:`Ranking` that says, per record id, its rank (0 = the Pareto front) or why it has none.

Conventions
-----------
- Rank 0 is the Pareto front; rank 1 is the front once rank 0 is removed, and so on. Identical points
  do not dominate each other and share a rank.
- :func:`pareto_ranks` gives a point with a missing (None) or NaN coordinate the rank after the last
  front (at least 1), so that it is never on the front.
- :func:`rank_records` leaves a record unranked when it is invalid, breaks a constraint, or lacks a
  figure for one of the objectives; :meth:`Ranking.note` words why, as ``"not ranked: …"`` (for an
  invalid record, with the agent's reasons: throttled, power refused, foreign load, too short).
- Accuracy loss is absolute (a fraction: 0.003 is 0.3 percentage points), as the record holds it.
- An objective that some valid record lacks gives way to its fallback when it has one (inferences per
  joule → throughput); one that no valid record has is left out. :func:`effective_objectives` says
  which objectives were used and why.
- Constraints come first (:mod:`pipeline.constraints`): accuracy budget (a default one unless the user
  set one), p99 SLA, memory. Records outside them are shown, not ranked, with the reason.
- Fronts across all targets (:meth:`Ranking.rank`) and within each target (:meth:`Ranking.target_rank`;
  a record's target is its matched profile, else its device).
- Each ranked figure has a kind (measured, estimated, projected: :data:`~pipeline.objectives.FIGURE_KINDS`);
  ``exclude_estimates`` ranks on measured figures only, estimates counting as missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.constraints import Constraints, constraint_violations, meets_sla
from pipeline.numbers import is_number
from pipeline.objectives import DEFAULT_OBJECTIVES, SENSES, Objective
from pipeline.record import Record
from pipeline.repeats import compare

NOT_RANKED = "not ranked: "


@dataclass(frozen=True)
class Standing:
    """Where one record stands: its rank (None = not ranked), the SLA verdict, and why it is unranked."""

    rank: int | None
    meets_sla: bool | None  # None without an SLA or without a p99 figure
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranking:
    """The outcome of :func:`rank_records`.

    ``objectives`` are those the ranking used, in order; ``stand_ins`` maps a used objective's name
    to the requested objective it replaced; ``fallback_notes`` explain each change, as sentences.
    ``target_ranks`` are the ranks within each record's target; ``kinds`` says, per record id, what
    each used objective's figure rests on; ``excluded_estimates`` is True when estimates were left out.
    """

    objectives: tuple[Objective, ...]
    standings: Mapping[str, Standing]
    fallback_notes: tuple[str, ...] = ()
    stand_ins: Mapping[str, Objective] = field(default_factory=dict)
    target_ranks: Mapping[str, int | None] = field(default_factory=dict)
    kinds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    excluded_estimates: bool = False

    def rank(self, record_id: str) -> int | None:
        return self.standings[record_id].rank

    def target_rank(self, record_id: str) -> int | None:
        """The record's rank among the records of its own target (0 = that target's front)."""
        return self.target_ranks.get(record_id)

    def within_targets(self) -> Ranking:
        """This ranking with each record's rank replaced by its rank within its own target."""
        standings = {
            rid: dataclasses.replace(s, rank=self.target_ranks.get(rid)) if s.rank is not None else s
            for rid, s in self.standings.items()
        }
        return dataclasses.replace(self, standings=standings)

    def figure_kinds(self, record_id: str) -> Mapping[str, str]:
        """Objective name -> "measured", "estimated" or "projected", for the figures the record has."""
        return self.kinds.get(record_id, {})

    def meets_sla(self, record_id: str) -> bool | None:
        return self.standings[record_id].meets_sla

    def reasons(self, record_id: str) -> tuple[str, ...]:
        return self.standings[record_id].reasons

    def note(self, record_id: str) -> str | None:
        """``"not ranked: …"`` for an unranked record, None for a ranked one."""
        reasons = self.reasons(record_id)
        return NOT_RANKED + "; ".join(reasons) if reasons else None


Interval = tuple[float, float] | None


def pareto_ranks(
    points: Sequence[Sequence[float | None]],
    senses: Sequence[str],
    intervals: Sequence[Sequence[Interval]] | None = None,
) -> list[int]:
    """Non-dominated sorting of ``points`` under ``senses`` ("max" or "min", one per coordinate).

    Returns one rank per point: 0 for the front, 1 for the front of what is left, and so on. A point
    with a None or NaN coordinate gets the rank after the last front (at least 1): it is on no front.
    Identical points share a rank. O(n² · d), fine for hundreds of records.

    ``intervals`` (one per coordinate, or None) are the repeated windows' intervals for the median
    (pipeline/repeats.py): where two points both have one, overlapping intervals are a tie on that
    coordinate, and only non-overlapping ones make one point better. Points caught in a cycle of
    such dominations (possible, ties not being transitive) get the rank after the last front.
    """
    senses = list(senses)
    for sense in senses:
        if sense not in SENSES:
            raise ValueError(f"sense must be 'max' or 'min', not {sense!r}")
    keys: list[tuple[float, ...] | None] = []
    spans: list[tuple[Interval, ...]] = []
    for index, point in enumerate(points):
        if len(point) != len(senses):
            raise ValueError(f"point {list(point)!r} has {len(point)} values for {len(senses)} senses")
        given = list(intervals[index]) if intervals is not None else [None] * len(point)
        spans.append(tuple(_minimised(span, s) for span, s in zip(given, senses, strict=True)))
        values = [float(v) for v in point if v is not None and is_number(v)]
        if len(values) == len(point):
            # Everything as minimisation.
            keys.append(tuple(-v if s == "max" else v for v, s in zip(values, senses, strict=True)))
        else:
            keys.append(None)

    live = [i for i, k in enumerate(keys) if k is not None]
    dominated_by_count = {i: 0 for i in live}
    dominates: dict[int, list[int]] = {i: [] for i in live}
    for a_pos, a in enumerate(live):
        for b in live[a_pos + 1 :]:
            if _dominates(keys[a], keys[b], spans[a], spans[b]):
                dominates[a].append(b)
                dominated_by_count[b] += 1
            elif _dominates(keys[b], keys[a], spans[b], spans[a]):
                dominates[b].append(a)
                dominated_by_count[a] += 1

    ranks: list[int | None] = [None] * len(keys)
    front = [i for i in live if dominated_by_count[i] == 0]
    rank = 0
    while front:
        following = []
        for i in front:
            ranks[i] = rank
            for j in dominates[i]:
                dominated_by_count[j] -= 1
                if dominated_by_count[j] == 0:
                    following.append(j)
        front = following
        rank += 1
    last = max(rank, 1)
    return [last if r is None else r for r in ranks]


def _minimised(span: Interval, sense: str) -> Interval:
    """An interval in the minimising orientation the keys use."""
    if span is None:
        return None
    return (-span[1], -span[0]) if sense == "max" else (span[0], span[1])


def _dominates(
    a: tuple[float, ...] | None,
    b: tuple[float, ...] | None,
    a_spans: Sequence[Interval] = (),
    b_spans: Sequence[Interval] = (),
) -> bool:
    """a dominates b (both minimised): no worse everywhere and better somewhere; on a coordinate
    where both have an interval, by the intervals (overlapping = tied)."""
    assert a is not None and b is not None
    a_spans = a_spans or (None,) * len(a)
    b_spans = b_spans or (None,) * len(b)
    order = [compare(sa, sb, x, y) for x, y, sa, sb in zip(a, b, a_spans, b_spans, strict=True)]
    return all(o <= 0 for o in order) and any(o < 0 for o in order)


def effective_objectives(
    records: Sequence[Record], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES
) -> tuple[tuple[Objective, ...], tuple[str, ...], dict[str, Objective]]:
    """The objectives a ranking of ``records`` can use, a sentence for each change, and which used
    objective stands in for which requested one.

    An objective that some valid record lacks gives way to its fallback (ranking on energy would
    silently leave the records without it off the front, and a slow build with a power figure could
    then win); without a fallback, one that no valid record has is left out: it separates nothing.
    """
    valid = [r for r in records if r.valid]
    used: dict[str, Objective] = {}
    notes: list[str] = []
    stand_ins: dict[str, Objective] = {}
    for objective in objectives:
        have = [r for r in valid if objective.of(r) is not None]
        fallback = _first_complete_fallback(objective, valid)
        if fallback is not None and valid and len(have) < len(valid):
            twin = next((o for o in objectives if o.figure == fallback.figure), None)
            instead = f"ranked on {fallback.label} instead of {objective.label}"
            if twin is not None:  # the fallback's figure is already an objective: it stands in alone
                instead = f"ranked on {twin.label} without {objective.label}"
            elif any(fallback.of(r) is not None for r in valid) and fallback.name not in used:
                used[fallback.name] = fallback
                stand_ins[fallback.name] = objective
            lacking = objective.lacking()
            first = objective.fallback
            if fallback.from_power and objective.from_power:  # the power is known, only above idle
                lacking = "gross energy figure (power known above idle only: no idle power figure for the device)"
            elif first is not None and first is not fallback and any(first.of(r) is not None for r in valid):
                some = sum(first.of(r) is not None for r in valid)
                lacking = (
                    f"gross energy figure, and only {some} of {len(valid)} have {first.label} (the others have no "
                    "power reading)"
                )
            if have:
                notes.append(f"{len(valid) - len(have)} of {len(valid)} records have no {lacking}: {instead}")
            else:
                article = "an " if lacking[:1] in "aeiou" else "a "
                notes.append(f"no record has {article}{lacking}: {instead}")
        elif not valid or have:
            used.setdefault(objective.name, objective)
        else:
            notes.append(f"no record has {objective.lacking(article=True)}: left out of the ranking")
    return tuple(used.values()), tuple(notes), stand_ins


def _first_complete_fallback(objective: Objective, valid: Sequence[Record]) -> Objective | None:
    """The first objective down ``objective``'s fallback chain that every valid record has (gross
    inferences per joule → above idle → throughput); the chain's last when none is complete."""
    fallback = objective.fallback
    while fallback is not None and fallback.fallback is not None:
        if all(fallback.of(r) is not None for r in valid):
            return fallback
        fallback = fallback.fallback
    return fallback


def invalid_reason(record: Record) -> str:
    """Why an invalid record is not ranked, in the agent's words where it gave them."""
    given = list(record.validity.reasons) if record.validity is not None else []
    return "invalid measurement: " + "; ".join(given) if given else "invalid measurement"


def target_of(record: Record) -> str:
    """What a per-target front groups by: the matched profile, else the device."""
    return record.target or record.device_id


def rank_records(
    records: Sequence[Record],
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
    constraints: Constraints | None = None,
    exclude_estimates: bool = False,
) -> Ranking:
    """Rank ``records`` under ``objectives`` within ``constraints`` (none by default).

    Records that are invalid, break a constraint or lack a used objective's figure are not ranked,
    with the reasons; the others are ranked among themselves (0 = front), across targets and within
    each. ``exclude_estimates`` treats estimated figures as missing. Record ids must be unique.
    """
    constraints = constraints or Constraints()
    if exclude_estimates:
        objectives = [o.measured_only() for o in objectives]
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"record ids must be unique within a ranking; repeated: {', '.join(twice)}")
    used, notes, stand_ins = effective_objectives(records, objectives)
    standings: dict[str, Standing] = {}
    eligible: list[Record] = []
    for record in records:
        reasons = [] if record.valid else [invalid_reason(record)]
        reasons += constraint_violations(record, constraints)
        missing = [o.label for o in used if o.of(record) is None]
        if missing:
            reasons.append("no figure for " + ", ".join(missing))
        if not reasons:
            eligible.append(record)
        standings[record.id] = Standing(rank=None, meets_sla=meets_sla(record, constraints), reasons=tuple(reasons))
    senses = [o.sense for o in used]
    points = [[o.of(r) for o in used] for r in eligible]
    spans = [[o.interval(r) for o in used] for r in eligible]
    for record, rank in zip(eligible, pareto_ranks(points, senses, spans), strict=True):
        standings[record.id] = Standing(rank=rank, meets_sla=standings[record.id].meets_sla)
    target_ranks: dict[str, int | None] = {r.id: None for r in records}
    for target in dict.fromkeys(target_of(r) for r in eligible):
        group = [r for r in eligible if target_of(r) == target]
        group_spans = [[o.interval(r) for o in used] for r in group]
        ranks = pareto_ranks([[o.of(r) for o in used] for r in group], senses, group_spans)
        target_ranks.update({r.id: rank for r, rank in zip(group, ranks, strict=True)})
    kinds = {r.id: {o.name: k for o in used if (k := o.kind_of(r)) is not None} for r in records}
    return Ranking(
        objectives=used,
        standings=standings,
        fallback_notes=notes,
        stand_ins=stand_ins,
        target_ranks=target_ranks,
        kinds=kinds,
        excluded_estimates=exclude_estimates,
    )
