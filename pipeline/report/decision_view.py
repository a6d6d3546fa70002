"""What every report says about the decision, as display strings: the accuracy budget and rule that
applied, the kind of each ranked figure, per-target fronts, cost with its inputs, the roofline and
why precision and batch size did what they did, and the planner's answer.

The terminal report, ``report.md`` and the HTML page render these same strings, so they agree.
"""

from __future__ import annotations

from collections import Counter

from pipeline.constraints import DEFAULT_BUDGET_BASIS
from pipeline.numbers import DASH, fmt, format_number
from pipeline.planner.answer import PLAN_COLUMNS, autoscaling_text, plan_rows
from pipeline.recommend_text import RULE_TEXT, usd
from pipeline.record import Record
from pipeline.roofline_text import explain
from pipeline.summary import RunSummary

__all__ = [
    "PLAN_COLUMNS",
    "budget_line",
    "cost_cell",
    "cost_lines",
    "kinds_line",
    "per_target_lines",
    "plan_lines",
    "plan_table",
    "roofline_cell",
    "roofline_lines",
    "rule_line",
]


def cost_cell(record: Record) -> str:
    """USD per million inferences at full load, ``~`` marking estimated inputs."""
    cost = record.cost
    if cost is None:
        return DASH
    return ("~" if cost.estimated else "") + fmt(cost.usd_per_million_full_load, strip=False)


def roofline_cell(record: Record) -> str:
    """``4.7% mem``: the measured fraction of the roofline bound and which bound."""
    roof = record.roofline
    if roof is None:
        return DASH
    return f"{fmt(roof.fraction, 100)}% {'mem' if roof.bound == 'memory' else 'comp'}"


def budget_line(summary: RunSummary) -> str:
    """Which accuracy budget applied, and its basis when it is the default."""
    c = summary.constraints
    if c.max_accuracy_loss is None:
        return "Accuracy budget: none."
    cosine = format_number(1 - c.max_accuracy_loss, sig=4)
    limit = (
        f"loss ≤ {format_number(c.max_accuracy_loss * 100)} pp absolute (cosine ≥ {cosine} where the loss is cosine)"
    )
    if c.budget_is_default:
        return f"Accuracy budget: the default, {limit}: {DEFAULT_BUDGET_BASIS}; set yours with --max-accuracy-loss."
    return f"Accuracy budget: {limit}, set with --max-accuracy-loss."


def rule_line(summary: RunSummary) -> str:
    rec = summary.recommendation
    applied = rec.rule if rec is not None else None
    if applied is None:
        return f"Recommendation rule: {summary.rule}."
    how = f" ('{summary.rule}' chose it)" if summary.rule == "auto" else ""
    return f"Recommendation rule: {applied}{how}: {RULE_TEXT.get(applied, applied)}."


def kinds_line(summary: RunSummary) -> str:
    """How many ranked figures of each objective are measured, estimated or projected."""
    parts = []
    for objective in summary.ranking.objectives:
        counts = Counter(
            k for r in summary.records if (k := summary.ranking.figure_kinds(r.id).get(objective.name)) is not None
        )
        if counts:
            parts.append(f"{objective.label}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    text = "Figures ranked: " + ("; ".join(parts) if parts else "none") + "."
    if summary.ranking.excluded_estimates:
        text += " Estimates were excluded (--exclude-estimates): an estimated figure counts as missing."
    elif any("estimated" in summary.ranking.figure_kinds(r.id).values() for r in summary.records):
        text += " Estimates are ranked with measurements; --exclude-estimates ranks on measured figures only."
    return text


def per_target_lines(summary: RunSummary) -> list[str]:
    """Each target's own pick, when the run measured more than one target."""
    lines = []
    for target, rec in summary.per_target.items():
        lines.append(f"{target}: {rec.id}" if rec is not None else f"{target}: nothing qualifies")
    return lines


def cost_lines(summary: RunSummary) -> list[str]:
    """The recommended build's cost, its breakdown and every input with its provenance; the span
    across builds."""
    with_cost = [r for r in summary.records if r.cost is not None]
    if not with_cost:
        missing = next((n for r in summary.records for n in r.notes if n.startswith("no cost figure")), None)
        return [missing or "no cost figures"]
    record = summary.recommended if summary.recommended is not None and summary.recommended.cost else with_cost[0]
    cost = record.cost
    assert cost is not None
    if cost.pricing == "rental":
        per_hour = f"rental {usd(cost.hardware_usd_per_hour)}/h, power and cooling included"
    else:
        per_hour = (
            f"amortised purchase {usd(cost.hardware_usd_per_hour)}/h + energy "
            f"{usd(cost.energy_usd_per_hour_full_load)}/h"
        )
    head = f"{record.id}: {usd(cost.usd_per_million_full_load)} per million inferences at full load ({per_hour})"
    if cost.usd_per_million_at_load is not None:
        busy = format_number((cost.utilisation or 0) * 100, sig=2)
        head += (
            f"; {usd(cost.usd_per_million_at_load)} at your load ({busy}% utilised, "
            f"{format_number(cost.average_w_at_load)} W on average)"
        )
    lines = [head + ("; some inputs are estimates" if cost.estimated else "")]
    lines += ["  " + i.describe() for i in cost.inputs]
    values = [r.cost.usd_per_million_full_load for r in with_cost if r.cost is not None]
    lines.append(
        f"across the {len(with_cost)} measurements with a cost: {usd(min(values))}–{usd(max(values))} per million "
        "at full load"
    )
    return lines


def roofline_lines(summary: RunSummary) -> list[str]:
    """The recommended build on its roofline, then why INT8 and a bigger batch helped or did not."""
    with_roof = [r for r in summary.records if r.roofline is not None]
    if not with_roof:
        missing = next((n for r in summary.records for n in r.notes if n.startswith("no roofline")), None)
        return [missing or "no roofline figures"]
    focus = summary.recommended if summary.recommended is not None and summary.recommended.roofline else with_roof[0]
    roof = focus.roofline
    assert roof is not None
    lines = [
        f"{focus.id}: {roof.bound}-bound, measured {format_number(focus.throughput_ips)} inf/s = "
        f"{format_number(roof.fraction * 100, sig=2)}% of the {format_number(roof.bound_ips)} inf/s bound "
        f"({format_number(roof.flops_per_inference / 1e6)} MFLOP and "
        f"{format_number(roof.bytes_per_inference / 1e6)} MB per inference, intensity "
        f"{format_number(roof.intensity_flop_per_byte)} FLOP/B against the ridge at "
        f"{format_number(roof.ridge_flop_per_byte)}; {roof.peak_precision} peak, power mode {roof.power_mode}; "
        f"counted on {roof.counted_on})"
    ]
    lines += ["  " + i.describe() for i in roof.inputs]
    lines += ["  " + n for n in roof.notes]
    lines += explain(summary.records, focus)
    return lines


def plan_lines(summary: RunSummary) -> list[str]:
    """The planner's answer, over-provisioning, auto-scaling and method; [] without a workload."""
    plan = summary.plan
    if plan is None:
        return []
    lines = [plan.answer]
    if plan.over_provision:
        lines.append(plan.over_provision)
    lines.append(autoscaling_text(plan.autoscaling))
    lines.append(plan.method)
    lines += [f"left out: {why}" for why in plan.left_out]
    return lines


def plan_table(summary: RunSummary) -> list[dict[str, str]]:
    plan = summary.plan
    return plan_rows(plan.options, plan.cheapest) if plan is not None else []
