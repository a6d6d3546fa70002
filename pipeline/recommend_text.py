"""The recommendation's English: why this build, in one to three sentences.

Every figure is printed with its unit and, for power-derived figures, where the power came from:
an estimate never reads as a measurement. Pure string building over records and the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.constraints import Constraints
from pipeline.numbers import DASH, format_number
from pipeline.objectives import ACCURACY_LOSS, COST_PER_MILLION, LATENCY_P99, Objective
from pipeline.rank import Ranking
from pipeline.record import Record

#: The rules in words, as the reports state them.
RULE_TEXT = {
    "knee": (
        "the knee of the Pareto front: each objective scaled 0-1 across the front (1 = its best), the build "
        "nearest the ideal point wins; objectives within 5% across the front are left out"
    ),
    "cheapest": "the cheapest feasible build: lowest cost per million inferences within the constraints",
    "first": "the front's best on the first objective, ties to the lower p99",
}


#: How builds tied by their repeated windows' intervals are told apart, in words (pipeline/recommend.py).
TIE_RULE = "less accuracy loss, then the lower p99 (median of the repeats), then an FP32 build"


def interval_text(objective: Objective, record: Record) -> str:
    """``a..b`` of the record's interval for ``objective`` ("–" without one)."""
    span = objective.interval(record)
    if span is None:
        return DASH
    return f"{format_number(span[0])}..{format_number(span[1])}"


def tie_sentence(best: Record, others: Sequence[Record], objective: Objective) -> str:
    """``Tied with X: intervals overlap (a..b vs c..d inf/J, N=3); ...``: the builds tied with the
    recommended one by their repeated windows, and why it wins the tie. "" when none is tied."""
    if not others:
        return ""
    unit = "USD per million" if objective.name == COST_PER_MILLION.name else objective.unit
    parts = [
        f"{o.id}: intervals overlap ({interval_text(objective, best)} vs {interval_text(objective, o)} {unit}, "
        f"N={best.repeats}{'' if o.repeats == best.repeats else f' and {o.repeats}'})"
        for o in others
    ]
    runner = others[0]
    return (
        f"Tied on {objective.label} with {'; '.join(parts)}; ties go to {TIE_RULE}: {best.id} has "
        f"{tie_phrase(best, runner)}."
    )


def tied_reason(chosen: Record, leader: Record, tied: Sequence[Record], ranking: Ranking, objective: Objective) -> str:
    """Why ``chosen`` is recommended over ``leader``, the best on ``objective``, when their repeated
    windows' intervals overlap."""
    others = [leader] + [r for r in tied if r is not leader and r is not chosen]
    return f"{figures_phrase(chosen, ranking)}. " + tie_sentence(chosen, others, objective) + fallback_sentence(ranking)


def tie_phrase(chosen: Record, other: Record) -> str:
    """What ``chosen`` wins the tie with ``other`` on, by :data:`TIE_RULE`."""
    a, b = ACCURACY_LOSS.of(chosen), ACCURACY_LOSS.of(other)
    if a is not None and (b is None or round(a, 6) < round(b, 6)):
        return "less accuracy loss"
    p, q = LATENCY_P99.of(chosen), LATENCY_P99.of(other)
    if p is not None and (q is None or p < q):
        return f"the lower p99 ({format_number(p)} vs {format_number(q)} ms)" if q is not None else "a p99 figure"
    if chosen.is_fp32 and not other.is_fp32:
        return "no precision conversion (FP32)"
    return "the same figures on every tie-break (the best on the ranked figure is kept)"


def usd(value: float | None) -> str:
    """``$0.0123``: dollars to three significant digits; "–" when missing."""
    return DASH if value is None else "$" + format_number(value)


def figure_text(objective: Objective, record: Record) -> str:
    """The record's figure for ``objective`` with its unit and, for an estimate, what is estimated."""
    value = objective.of(record)
    if objective.name == COST_PER_MILLION.name:
        if value is None:
            return "no cost figure"
        cost = record.cost
        text = f"{usd(value)} per million inferences at full load"
        if cost is not None and cost.usd_per_million_at_load is not None:
            text += f" ({usd(cost.usd_per_million_at_load)} at your load)"
        return text + (", from estimated inputs" if cost is not None and cost.estimated else "")
    if objective.name == ACCURACY_LOSS.name:
        return loss_phrase(record)
    if objective.unit == "ms":
        return f"{objective.label} {format_number(value)} ms"
    text = f"{format_number(value)} {objective.unit}"
    if objective.from_power:
        text += f" ({power_provenance(record)})"
    return text


def fallback_sentence(ranking: Ranking) -> str:
    """The ranking's stand-ins ("ranked on throughput instead of …") as a closing sentence; "" when
    there were none (objectives merely left out are said in the ranking summary)."""
    notes = [n for n in ranking.fallback_notes if "ranked on" in n]
    if not notes:
        return ""
    return " " + " ".join(n[:1].upper() + n[1:] + "." for n in notes)


def figures_phrase(record: Record, ranking: Ranking, skip: str = "") -> str:
    """Every ranked figure of ``record`` (but ``skip``), then its p99 and where it ran."""
    names = {o.name for o in ranking.objectives}
    parts = [figure_text(o, record) for o in ranking.objectives if o.name != skip]
    if LATENCY_P99.name not in names:
        parts.append(p99_phrase(record))
    return ", ".join(parts) + f" {where(record)}"


def knee_reason(
    best: Record, records: Sequence[Record], ranking: Ranking, distances: Mapping[str, float], constraints: Constraints
) -> str:
    """Why ``best``, the knee of the front, is recommended, with the distances that decided it."""
    front = sorted(distances, key=lambda rid: distances[rid])
    first_label = ranking.objectives[0].label if ranking.objectives else "throughput"
    if len(front) == 1:
        head = "The only build on the Pareto front"
    elif max(distances.values()) < 1e-9:
        head = (
            f"The {len(front)} builds on the Pareto front are within 5% of each other on every objective, so none "
            f"is a knee: the best on {first_label}, then the lower p99"
        )
    else:
        runner = next(rid for rid in front if rid != best.id)
        tie = abs(distances[runner] - distances[best.id]) < 1e-9
        head = (
            f"Knee of the Pareto front ({len(front)} builds): nearest the ideal point once each objective is "
            f"scaled 0-1 across the front (distance {format_number(distances[best.id], sig=2)}; "
            + (f"tied with {runner}, the tie to the best on {first_label}" if tie else f"next {runner} at "
               f"{format_number(distances[runner], sig=2)}")
            + ")"
        )  # fmt: skip
    sla = f" (SLA {format_number(constraints.sla_p99_ms)} ms)" if constraints.sla_p99_ms is not None else ""
    first = f"{head}: {figures_phrase(best, ranking)}{sla}."
    metric = ranking.objectives[0] if ranking.objectives else None
    baseline = baseline_phrase(best, records, ranking, metric) if metric is not None and metric.sense == "max" else ""
    return first + baseline + fallback_sentence(ranking)


def knee_close_call_reason(chosen: Record, knee: Record, ranking: Ranking, margin: float) -> str:
    """Why ``chosen`` is recommended over ``knee``, which it cannot be told from within ``margin``."""
    return (
        f"{figures_phrase(chosen, ranking)}. The knee of the front, {knee.id}, is within {margin:.0%} of it on every "
        f"ranked figure and in p99, closer than one run can separate, so the build with "
        f"{prudence_phrase(chosen, knee)} is recommended." + fallback_sentence(ranking)
    )


def cheapest_reason(
    best: Record,
    leader: Record,
    pool: Sequence[Record],
    ranking: Ranking,
    cost: Objective,
    constraints: Constraints,
    margin: float,
) -> str:
    """Why ``best`` is recommended under the cheapest rule; ``leader`` is the lowest cost in ``pool``."""
    sla = f" (SLA {format_number(constraints.sla_p99_ms)} ms)" if constraints.sla_p99_ms is not None else ""
    others = sorted((r for r in pool if r.id != best.id), key=lambda r: cost.of(r) or 0.0)
    if best is leader:
        head = f"Cheapest feasible build at {figure_text(cost, best)}"
        if others:
            head += f" (next: {others[0].id} at {usd(cost.of(others[0]))})"
    else:
        head = (
            f"Within {margin:.0%} of the cheapest ({leader.id} at {usd(cost.of(leader))}), closer than one run "
            f"can separate, the build with {prudence_phrase(best, leader)}: {figure_text(cost, best)}"
        )
    breakdown = ""
    if best.cost is not None:
        c = best.cost
        if c.pricing == "rental":
            breakdown = f" Rental {usd(c.hardware_usd_per_hour)}/h, power and cooling included."
        else:
            breakdown = (
                f" Amortised purchase {usd(c.hardware_usd_per_hour)}/h and energy "
                f"{usd(c.energy_usd_per_hour_full_load)}/h at full load."
            )
    return f"{head}; {figures_phrase(best, ranking, skip=cost.name)}{sla}.{breakdown}" + fallback_sentence(ranking)


def leader_reason(
    best: Record, records: Sequence[Record], ranking: Ranking, metric: Objective, constraints: Constraints
) -> str:
    """Why ``best``, the front's leader on ``metric``, is recommended; compared with FP32 where it helps."""
    value = f"{format_number(metric.of(best))} {metric.unit}"
    replaced = ranking.stand_ins.get(metric.name)
    if replaced is not None:
        head = (
            f"Not every record has {replaced.lacking(article=True)}, so this is ranked on {metric.label}: "
            f"{metric.phrase} on the front ({value})"
        )
    else:
        provenance = f", {power_provenance(best)}" if metric.from_power else ""
        head = f"{_capitalised(metric.phrase)} on the front ({value}{provenance})"
    latency = p99_phrase(best)
    if LATENCY_P99.of(best) is not None and constraints.sla_p99_ms is not None:
        latency += f" (SLA {format_number(constraints.sla_p99_ms)} ms)"
    first = f"{head} with {loss_phrase(best)} and {latency} {where(best)}."
    if metric.sense != "max":
        return first
    return first + baseline_phrase(best, records, ranking, metric)


def close_call_reason(chosen: Record, leader: Record, metric: Objective, margin: float) -> str:
    """Why ``chosen`` is recommended over ``leader``, whose lead is within ``margin`` (relative)."""
    unit = metric.unit
    estimated = " (estimated power)" if metric.from_power and chosen.power_estimated else ""
    return (
        f"{format_number(metric.of(chosen))} {unit}{estimated} with {loss_phrase(chosen)} and "
        f"{p99_phrase(chosen)} {where(chosen)}. "
        f"The top figure, {leader.id} at {format_number(metric.of(leader))} {unit}, is within "
        f"{margin:.0%} of it in both {unit} and p99, closer than one run can separate, so the build with "
        f"{prudence_phrase(chosen, leader)} is recommended."
    )


def where(record: Record) -> str:
    return f"at batch {record.batch_size} on {record.device_id} ({record.runtime})"


def p99_phrase(record: Record) -> str:
    p99 = LATENCY_P99.of(record)
    return "no p99 figure" if p99 is None else f"p99 {format_number(p99)} ms"


def power_provenance(record: Record) -> str:
    """ "estimated power", "power measured with <source>" or "measured power"."""
    if record.power_estimated:
        return "estimated power"
    if record.power is not None and record.power.source:
        return f"power measured with {record.power.source}"
    return "measured power"


def loss_phrase(record: Record) -> str:
    """The accuracy loss in percentage points, saying whether it is top-1 loss or fidelity loss."""
    loss = ACCURACY_LOSS.of(record)
    if loss is None:
        return "accuracy not measured"
    pp = loss * 100
    if record.accuracy is not None and record.accuracy.loss_kind == "cosine":
        shown = format_number(loss, sig=2) if loss >= 1e-6 else "< 0.000001"
        return f"cosine {format_number(1 - loss, sig=4)} to the FP32 outputs (loss {shown})"
    if record.loss_is_fidelity:
        return f"{format_number(pp)} pp fidelity loss (1 − top-1 agreement with FP32; no labels)"
    if pp < 0:
        return f"{format_number(-pp)} pp top-1 gain"
    if pp == 0:
        return "no top-1 loss"
    return f"{format_number(pp)} pp top-1 loss"


def prudence_phrase(chosen: Record, leader: Record) -> str:
    a, b = ACCURACY_LOSS.of(chosen), ACCURACY_LOSS.of(leader)
    if a is not None and (b is None or round(a, 6) < round(b, 6)):
        return "less accuracy loss"
    if chosen.is_fp32 and not leader.is_fp32:
        return "no precision conversion (FP32)"
    return "the better figure"


def baseline_phrase(best: Record, records: Sequence[Record], ranking: Ranking, metric: Objective) -> str:
    """How the recommended build compares with the FP32 build closest to it on the same device."""
    if best.is_fp32:
        if any(not r.is_fp32 for r in records):
            return " It is an FP32 build: no reduced-precision build does better within the budget."
        return ""
    fp32 = [r for r in records if r.is_fp32 and r.valid and r.device_id == best.device_id and metric.of(r) is not None]
    if not fp32:
        return ""

    def closeness(r: Record) -> tuple[bool, bool, float]:
        return (r.batch_size == best.batch_size, r.runtime == best.runtime, metric.of(r) or 0.0)

    base = max(fp32, key=closeness)
    base_value = metric.of(base) or 0.0
    value = metric.of(best) or 0.0
    head = f" FP32 at batch {base.batch_size} ({base.runtime}) gives {format_number(base_value)} {metric.unit}"
    if base_value > value:
        why = ranking.reasons(base.id)
        return head + (f" but is not eligible: {'; '.join(why)}." if why else " but is not on the front.")
    if base_value > 0:
        return head + f", {value / base_value:.1f}× less."
    return head + "."


def _capitalised(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]
