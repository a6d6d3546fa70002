"""The recommendation's English: why this build, in one to three sentences.

Every figure is printed with its unit and, for power-derived figures, where the power came from:
an estimate never reads as a measurement. Pure string building over records and the ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.numbers import format_number
from pipeline.objectives import ACCURACY_LOSS, LATENCY_P99, Objective
from pipeline.rank import Constraints, Ranking
from pipeline.record import Record


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
