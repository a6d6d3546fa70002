"""Pareto ranking of benchmark records, and the recommendation drawn from it.

Pure functions over the records of ``results.json`` (see the ``variants`` list there); nothing here
does I/O and no input is modified: functions return new dicts.

Conventions
-----------
- Rank 0 is the Pareto front; rank 1 is the front once rank 0 is removed, and so on. Identical points
  do not dominate each other and share a rank.
- :func:`pareto_ranks` gives a point with a missing (``None``) or NaN coordinate the rank after the
  last front (at least 1), so that it is never on the front.
- :func:`rank_records` sets ``pareto_rank`` to ``None`` ("not ranked") for a record that is invalid,
  breaks a constraint, or lacks a figure for one of the objectives, and appends the reason to the
  record's ``notes`` as ``"not ranked: …"``. Ranking the same records again replaces those notes, it
  does not repeat them.
- Accuracy loss is absolute (a fraction: 0.003 is 0.3 percentage points). Where a record has no
  labelled top-1 loss, its fidelity loss ``1 - accuracy.agreement`` (top-1 agreement with the FP32
  outputs) stands in, and :func:`loss_is_fidelity` says so.
- An objective that no valid record has a figure for is left out of the ranking, except inferences per
  joule, which falls back to throughput (no power figures at all). :func:`effective_objectives` tells
  which objectives were used and why.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_OBJECTIVES: dict[str, str] = {
    "inferences_per_joule": "max",
    "accuracy_loss_abs": "min",
    "latency_p99_ms": "min",
}

# Objective name -> dotted path into a record. Other names are read as dotted paths themselves
# (``throughput_ips``, ``latency_ms.p50``, ``energy_j_per_inference``, ...).
OBJECTIVE_FIELDS: dict[str, str] = {
    "inferences_per_joule": "inferences_per_joule",
    "accuracy_loss_abs": "accuracy.loss_abs",
    "latency_p99_ms": "latency_ms.p99",
    "throughput_ips": "throughput_ips",
}

OBJECTIVE_LABELS: dict[str, str] = {
    "inferences_per_joule": "inferences per joule",
    "accuracy_loss_abs": "accuracy loss",
    "latency_p99_ms": "p99 latency",
    "throughput_ips": "throughput",
}

NOT_RANKED = "not ranked: "
#: Two figures from single timed windows closer than this (relative) are not told apart. Basis:
#: scripts/bench/run_to_run_spread.md, where eight 2 s windows of one build on 2 cores had a
#: coefficient of variation of 1-5.5% (max-min up to 13%). Among builds this close to the best, the
#: recommendation prefers less accuracy loss, then an FP32 build (nothing converted), then the best.
INDISTINGUISHABLE = 0.05

_SENSES = ("max", "min")


# ---------------------------------------------------------------------------------------------------
# Small helpers shared with the reports


def is_number(value: Any) -> bool:
    """True for a real, finite-or-infinite number that is not NaN (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return not math.isnan(float(value))


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``get_path(r, "latency_ms.p99")``: the value at a dotted path, or None where any step is missing."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def accuracy_loss(record: Mapping[str, Any]) -> float | None:
    """Absolute accuracy loss as a fraction: labelled top-1 loss, else ``1 - agreement``, else None."""
    loss = get_path(record, "accuracy.loss_abs")
    if is_number(loss):
        return float(loss)
    agreement = get_path(record, "accuracy.agreement")
    if is_number(agreement):
        return 1.0 - float(agreement)
    return None


def loss_is_fidelity(record: Mapping[str, Any]) -> bool:
    """True when the record's accuracy loss is fidelity to FP32 (no labels), not labelled top-1 loss."""
    kind = get_path(record, "accuracy.loss_kind")
    if kind is not None:
        return kind == "fidelity"
    return not is_number(get_path(record, "accuracy.loss_abs")) and is_number(get_path(record, "accuracy.agreement"))


def power_estimated(record: Mapping[str, Any]) -> bool:
    """True when the record's power figure is an estimate rather than a measurement."""
    power = record.get("power")
    return isinstance(power, Mapping) and bool(power.get("estimated"))


def objective_value(record: Mapping[str, Any], objective: str) -> float | None:
    """The record's figure for an objective, as a float, or None when it has none."""
    if objective == "accuracy_loss_abs":
        return accuracy_loss(record)
    value = get_path(record, OBJECTIVE_FIELDS.get(objective, objective))
    return float(value) if is_number(value) else None


def is_valid(record: Mapping[str, Any]) -> bool:
    """A record is valid unless it says ``"valid": false``."""
    return record.get("valid") is not False


# ---------------------------------------------------------------------------------------------------
# Non-dominated sorting


def pareto_ranks(points: Sequence[Sequence[float | None]], senses: Sequence[str]) -> list[int]:
    """Non-dominated sorting of ``points`` under ``senses`` ("max" or "min", one per coordinate).

    Returns one rank per point: 0 for the front, 1 for the front of what is left, and so on. A point
    with a None or NaN coordinate gets the rank after the last front (at least 1): it is on no front.
    Identical points share a rank. O(n² · d), fine for hundreds of records.
    """
    senses = list(senses)
    for sense in senses:
        if sense not in _SENSES:
            raise ValueError(f"sense must be 'max' or 'min', not {sense!r}")
    keys: list[tuple[float, ...] | None] = []
    for point in points:
        if len(point) != len(senses):
            raise ValueError(f"point {list(point)!r} has {len(point)} values for {len(senses)} senses")
        if all(is_number(v) for v in point):
            # Everything as minimisation.
            keys.append(tuple(-float(v) if s == "max" else float(v) for v, s in zip(point, senses, strict=True)))
        else:
            keys.append(None)

    live = [i for i, k in enumerate(keys) if k is not None]
    dominated_by_count = {i: 0 for i in live}
    dominates: dict[int, list[int]] = {i: [] for i in live}
    for a_pos, a in enumerate(live):
        for b in live[a_pos + 1 :]:
            if _dominates(keys[a], keys[b]):
                dominates[a].append(b)
                dominated_by_count[b] += 1
            elif _dominates(keys[b], keys[a]):
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


def _dominates(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    """a dominates b (both minimised): no worse everywhere and better somewhere."""
    assert a is not None and b is not None
    pairs = list(zip(a, b, strict=True))
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


# ---------------------------------------------------------------------------------------------------
# Records


def effective_objectives(
    records: Sequence[Mapping[str, Any]], objectives: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The objectives a ranking of ``records`` can use, and a sentence for each change.

    An objective that no valid record has a figure for cannot separate anything: inferences per joule
    falls back to throughput (no power figures in the run), any other such objective is left out.
    """
    objectives = dict(DEFAULT_OBJECTIVES if objectives is None else objectives)
    valid = [r for r in records if is_valid(r)]
    used: dict[str, str] = {}
    notes: list[str] = []
    for name, sense in objectives.items():
        if sense not in _SENSES:
            raise ValueError(f"objective {name!r}: sense must be 'max' or 'min', not {sense!r}")
        have = [r for r in valid if objective_value(r, name) is not None]
        if name == "inferences_per_joule" and valid and len(have) < len(valid):
            # Ranking on energy would silently leave the records without it off the front, and a slow
            # build with a power figure could then win: compare everything on throughput instead.
            if any(objective_value(r, "throughput_ips") is not None for r in valid):
                used.setdefault("throughput_ips", "max")
            if have:
                notes.append(
                    f"{len(valid) - len(have)} of {len(valid)} records have no energy figure: "
                    "ranked on throughput instead of inferences per joule"
                )
            else:
                notes.append("no record has energy figures: ranked on throughput instead of inferences per joule")
        elif not valid or have:
            used[name] = sense
        else:
            notes.append(f"no record has a figure for {_label(name)}: left out of the ranking")
    return used, notes


def constraint_violations(record: Mapping[str, Any], constraints: Mapping[str, Any] | None) -> list[str]:
    """Why the record breaks ``constraints`` (``sla_p99_ms``, ``max_accuracy_loss_abs``); [] if it doesn't.

    A record without the figure a constraint needs breaks it: compliance cannot be shown.
    """
    constraints = constraints or {}
    out = []
    sla = constraints.get("sla_p99_ms")
    if is_number(sla):
        p99 = objective_value(record, "latency_p99_ms")
        if p99 is None:
            out.append(f"no p99 latency to check against the {format_number(sla)} ms SLA")
        elif p99 > sla:
            out.append(f"p99 {format_number(p99)} ms exceeds the {format_number(sla)} ms SLA")
    max_loss = constraints.get("max_accuracy_loss_abs")
    if is_number(max_loss):
        loss = accuracy_loss(record)
        if loss is None:
            out.append(f"no accuracy figure to check against the {format_number(max_loss * 100)} pp loss limit")
        elif loss > max_loss:
            kind = "fidelity loss" if loss_is_fidelity(record) else "accuracy loss"
            out.append(f"{kind} {format_number(loss * 100)} pp exceeds the {format_number(max_loss * 100)} pp limit")
    return out


def meets_sla(record: Mapping[str, Any], constraints: Mapping[str, Any] | None) -> bool | None:
    """True/False against ``sla_p99_ms``; None when there is no SLA or no p99 to compare."""
    sla = (constraints or {}).get("sla_p99_ms")
    p99 = objective_value(record, "latency_p99_ms")
    if not is_number(sla) or p99 is None:
        return None
    return p99 <= sla


def rank_records(
    records: Sequence[Mapping[str, Any]],
    objectives: Mapping[str, str] | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """New copies of ``records`` with ``pareto_rank`` and ``meets_sla`` set.

    ``objectives`` maps names to "max"/"min" (default :data:`DEFAULT_OBJECTIVES`); ``constraints`` has
    ``sla_p99_ms`` and ``max_accuracy_loss_abs`` (absolute fraction), either may be None. Records that
    are invalid, break a constraint or lack an objective's figure get ``pareto_rank: None`` and a
    ``"not ranked: …"`` note; the others are ranked among themselves (0 = front).
    """
    used, _ = effective_objectives(records, objectives)
    names = list(used)
    senses = [used[n] for n in names]
    out: list[dict[str, Any]] = []
    eligible: list[int] = []
    for record in records:
        new = dict(record)
        notes = [n for n in (record.get("notes") or []) if not str(n).startswith(NOT_RANKED)]
        new["meets_sla"] = meets_sla(record, constraints)
        new["pareto_rank"] = None
        reasons = [] if is_valid(record) else ["invalid measurement"]
        reasons += constraint_violations(record, constraints)
        missing = [_label(n) for n in names if objective_value(record, n) is None]
        if missing:
            reasons.append("no figure for " + ", ".join(missing))
        if reasons:
            notes.append(NOT_RANKED + "; ".join(reasons))
        else:
            eligible.append(len(out))
        new["notes"] = notes
        out.append(new)
    points = [[objective_value(out[i], n) for n in names] for i in eligible]
    for i, rank in zip(eligible, pareto_ranks(points, senses), strict=True):
        out[i]["pareto_rank"] = rank
    return out


# ---------------------------------------------------------------------------------------------------
# Recommendation


def recommend(
    records: Sequence[Mapping[str, Any]],
    constraints: Mapping[str, Any] | None = None,
    objectives: Mapping[str, str] | None = None,
) -> dict[str, str] | None:
    """``{"id", "reason"}`` for the build to deploy, or None when no record qualifies.

    Among valid, constraint-satisfying records on the front (``pareto_rank == 0``), the one with the
    most inferences per joule wins, ties going to the lower p99. With no energy figures on any of them
    it is the most throughput, and the reason says so. Records that carry no ``pareto_rank`` at all
    are ranked first with :func:`rank_records` (``objectives`` default to the standard three).
    """
    if any("pareto_rank" not in r for r in records):
        records = rank_records(records, objectives, constraints)
    candidates = [
        r for r in records if r.get("pareto_rank") == 0 and is_valid(r) and not constraint_violations(r, constraints)
    ]
    if not candidates:
        return None
    used, _ = effective_objectives(records, objectives)
    metric = "inferences_per_joule" if "inferences_per_joule" in used else "throughput_ips"
    pool = [r for r in candidates if objective_value(r, metric) is not None] or candidates

    def key(r: Mapping[str, Any]) -> tuple[float, float]:
        value = objective_value(r, metric)
        p99 = objective_value(r, "latency_p99_ms")
        return (
            value if value is not None else -math.inf,
            -(p99 if p99 is not None else math.inf),
        )

    leader = max(pool, key=key)
    eligible = [
        r
        for r in records
        if r.get("pareto_rank") is not None and is_valid(r) and not constraint_violations(r, constraints)
    ]
    best = _prudent_choice(eligible, leader, metric)
    if best is leader:
        reason = _reason(best, records, metric, constraints or {})
    else:
        reason = _close_call_reason(best, leader, metric)
    return {"id": str(best.get("id")), "reason": reason}


def _prudent_choice(eligible: Sequence[Mapping[str, Any]], leader: Mapping[str, Any], metric: str) -> Mapping[str, Any]:
    """Among records that one run cannot tell from the leader (ranking figure and p99 both within
    INDISTINGUISHABLE), the one with least accuracy loss, then an FP32 build, then the best figure.
    Such a record may sit just off the front: one run's noise decides which of the two dominates."""
    top = objective_value(leader, metric)
    if top is None or top <= 0:
        return leader
    lead_p99 = objective_value(leader, "latency_p99_ms")

    def indistinguishable(r: Mapping[str, Any]) -> bool:
        value = objective_value(r, metric)
        p99 = objective_value(r, "latency_p99_ms")
        if value is None or value < top / (1.0 + INDISTINGUISHABLE):
            return False
        return lead_p99 is None or p99 is None or p99 <= lead_p99 * (1.0 + INDISTINGUISHABLE)

    close = [r for r in eligible if indistinguishable(r)] or [leader]

    def prudence(r: Mapping[str, Any]) -> tuple[float, int, float]:
        loss = accuracy_loss(r)
        return (
            round(loss, 6) if loss is not None else math.inf,
            0 if _is_fp32(r) else 1,
            -(objective_value(r, metric) or 0.0),
        )

    chosen = min(close, key=prudence)
    return leader if prudence(chosen) == prudence(leader) else chosen


def _close_call_reason(chosen: Mapping[str, Any], leader: Mapping[str, Any], metric: str) -> str:
    unit = "inf/J" if metric == "inferences_per_joule" else "inf/s"
    estimated = " (estimated power)" if metric == "inferences_per_joule" and power_estimated(chosen) else ""
    p99 = objective_value(chosen, "latency_p99_ms")
    latency = f"p99 {format_number(p99)} ms" if p99 is not None else "no p99 figure"
    return (
        f"{format_number(objective_value(chosen, metric))} {unit}{estimated} with {_loss_phrase(chosen)} and "
        f"{latency} at batch {chosen.get('batch_size')} on {chosen.get('device_id')} ({chosen.get('runtime')}). "
        f"The top figure, {leader.get('id')} at {format_number(objective_value(leader, metric))} {unit}, is within "
        f"{INDISTINGUISHABLE:.0%} of it in both {unit} and p99, closer than one run can separate, so the build with "
        f"{_prudence_phrase(chosen, leader)} is recommended."
    )


def _prudence_phrase(chosen: Mapping[str, Any], leader: Mapping[str, Any]) -> str:
    a, b = accuracy_loss(chosen), accuracy_loss(leader)
    if a is not None and (b is None or round(a, 6) < round(b, 6)):
        return "less accuracy loss"
    if _is_fp32(chosen) and not _is_fp32(leader):
        return "no precision conversion (FP32)"
    return "the better figure"


def _reason(
    best: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    metric: str,
    constraints: Mapping[str, Any],
) -> str:
    value = objective_value(best, metric)
    where = f"at batch {best.get('batch_size')} on {best.get('device_id')} ({best.get('runtime')})"
    p99 = objective_value(best, "latency_p99_ms")
    sla = constraints.get("sla_p99_ms")
    latency = "no p99 figure" if p99 is None else f"p99 {format_number(p99)} ms"
    if p99 is not None and is_number(sla):
        latency += f" (SLA {format_number(sla)} ms)"
    if metric == "inferences_per_joule":
        power = best.get("power") or {}
        if power_estimated(best):
            provenance = "estimated power"
        elif power.get("source"):
            provenance = f"power measured with {power['source']}"
        else:
            provenance = "measured power"
        first = (
            f"Most inferences per joule on the front ({format_number(value)} inf/J, {provenance}) "
            f"with {_loss_phrase(best)} and {latency} {where}."
        )
        unit = "inf/J"
    else:
        first = (
            "Not every record has a power figure, so this is ranked on throughput: most throughput on the front "
            f"({format_number(value)} inf/s) with {_loss_phrase(best)} and {latency} {where}."
        )
        unit = "inf/s"
    return first + _baseline_phrase(best, records, metric, unit)


def _loss_phrase(record: Mapping[str, Any]) -> str:
    loss = accuracy_loss(record)
    if loss is None:
        return "accuracy not measured"
    pp = loss * 100
    if loss_is_fidelity(record):
        return f"{format_number(pp)} pp fidelity loss (1 − top-1 agreement with FP32; no labels)"
    if pp < 0:
        return f"{format_number(-pp)} pp top-1 gain"
    if pp == 0:
        return "no top-1 loss"
    return f"{format_number(pp)} pp top-1 loss"


def _is_fp32(record: Mapping[str, Any]) -> bool:
    return str(record.get("precision") or "").lower() in ("fp32", "float32")


def _baseline_phrase(best: Mapping[str, Any], records: Sequence[Mapping[str, Any]], metric: str, unit: str) -> str:
    if _is_fp32(best):
        if any(not _is_fp32(r) for r in records):
            return " It is an FP32 build: no reduced-precision build does better within the budget."
        return ""
    fp32 = [
        r
        for r in records
        if _is_fp32(r)
        and is_valid(r)
        and r.get("device_id") == best.get("device_id")
        and objective_value(r, metric) is not None
    ]
    if not fp32:
        return ""

    def closeness(r: Mapping[str, Any]) -> tuple[bool, bool, float]:
        return (
            r.get("batch_size") == best.get("batch_size"),
            r.get("runtime") == best.get("runtime"),
            objective_value(r, metric) or 0.0,
        )

    base = max(fp32, key=closeness)
    base_value = objective_value(base, metric) or 0.0
    value = objective_value(best, metric) or 0.0
    head = f" FP32 at batch {base.get('batch_size')} ({base.get('runtime')}) gives {format_number(base_value)} {unit}"
    if base_value > value:
        why = [str(n)[len(NOT_RANKED) :] for n in base.get("notes") or [] if str(n).startswith(NOT_RANKED)]
        return head + (f" but is not eligible: {why[0]}." if why else " but is not on the front.")
    if base_value > 0:
        return head + f", {value / base_value:.1f}× less."
    return head + "."


def _label(objective: str) -> str:
    return OBJECTIVE_LABELS.get(objective, objective)


def format_number(value: Any, sig: int = 3, strip: bool = True) -> str:
    """A figure to ``sig`` significant digits in plain notation, thousands separated from 1,000 up
    (and then as an integer); trailing zeros dropped unless ``strip`` is False; "–" when missing."""
    if not is_number(value):
        return "–"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    rounded = float(f"{value:.{sig - 1}e}")
    if abs(rounded) >= 10 ** (sig - 1) or abs(value) >= 1000:
        return f"{round(value):,}"
    digits = max(0, sig - 1 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:.{digits}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
