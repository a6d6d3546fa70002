"""The planner's answer in words and its table as display strings, for every report.

Each figure carries its unit; a projected option says so wherever it is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.numbers import DASH, fmt, format_number
from pipeline.planner.sizing import PlanOption
from pipeline.planner.workload import Workload
from pipeline.recommend_text import usd

if TYPE_CHECKING:
    from pipeline.planner.plan import AutoScaling

#: (key, header) of the plan table, units in the headers.
PLAN_COLUMNS: list[tuple[str, str]] = [
    ("option", "build on target"),
    ("kind", "figures"),
    ("devices", "devices"),
    ("batch", "max batch"),
    ("delay", "max delay (ms)"),
    ("p99", "p99 e2e (ms)"),
    ("util", "utilisation (%)"),
    ("power", "avg power (W)"),
    ("month", "USD/month"),
    ("million", "USD per 1M inf"),
    ("verdict", "verdict"),
]


def option_phrase(o: PlanOption) -> str:
    """The option's configuration and figures in one phrase."""
    parts = [
        f"{o.devices} device{'s' if o.devices != 1 else ''}",
        f"max batch {o.max_batch}",
        f"max delay {format_number(o.max_delay_ms)} ms",
        f"end-to-end p99 {format_number(o.p99_ms)} ms",
        f"{format_number((o.utilisation or 0) * 100, sig=2)}% utilised",
    ]
    if o.average_w is not None:
        parts.append(f"{format_number(o.average_w)} W on average")
    if o.usd_per_month is not None:
        estimated = ", estimated inputs" if o.cost_estimated else ""
        parts.append(f"{usd(o.usd_per_month)}/month ({o.pricing}{estimated})")
        parts.append(f"{usd(o.usd_per_million)} per million inferences")
    label = o.label if o.kind == "projected" else f"{o.label} (measured)"
    return f"{label}: " + ", ".join(parts)


def answer_text(
    workload: Workload,
    cheapest: PlanOption | None,
    cheapest_measured: PlanOption | None,
    usable: Sequence[PlanOption],
    options: Sequence[PlanOption],
) -> str:
    """One or two sentences: the cheapest configuration that meets the SLA, for this workload."""
    head = f"For {workload.describe()}: "
    if cheapest is not None:
        text = head + "the cheapest configuration that meets the SLA is " + option_phrase(cheapest) + "."
        if cheapest.kind == "projected":
            text += " It is a projection: " + (cheapest.assumption or "") + "."
            if cheapest_measured is not None:
                text += " The cheapest measured one is " + option_phrase(cheapest_measured) + "."
        return text
    if usable:
        fewest = min(usable, key=lambda o: (o.devices or 0, o.p99_ms or 0.0))
        return (
            head + "no option has a cost figure (" + (fewest.cost_note or "no price") + "); the fewest devices that "
            "meet the SLA: " + option_phrase(fewest) + "."
        )
    feasible = [o for o in options if o.feasible]
    if feasible:
        return (
            head
            + "every configuration that meets the SLA is over the budget; the cheapest: "
            + option_phrase(min(feasible, key=lambda o: o.usd_per_month or 0.0))
            + "."
        )
    reasons = "; ".join(f"{o.label}: {o.reason}" for o in options[:3]) or "no build was measured within the budget"
    return head + "nothing meets the SLA (" + reasons + ")."


def over_provision_text(fastest: PlanOption | None, cheapest: PlanOption | None) -> str:
    """How far the fastest option would over-provision, against the cheapest."""
    if fastest is None or cheapest is None:
        return ""
    if fastest.label == cheapest.label and fastest.kind == cheapest.kind:
        capacity = fmt(fastest.capacity_ips)
        return f"The cheapest option is also the fastest ({capacity} inf/s per device): nothing is over-provisioned."
    kind = "" if fastest.kind == "projected" else "measured, "
    text = (
        f"The fastest option, {fastest.label} ({kind}{fmt(fastest.capacity_ips)} inf/s per device), would be "
        f"{format_number((fastest.utilisation or 0) * 100, sig=2)}% utilised at this load"
    )
    if fastest.usd_per_month is not None and cheapest.usd_per_month:
        ratio = fastest.usd_per_month / cheapest.usd_per_month
        text += (
            f" and cost {usd(fastest.usd_per_month)}/month, {format_number(ratio, sig=2)}× the cheapest "
            f"({usd(cheapest.usd_per_month)}/month)"
        )
    return text + "."


def autoscaling_text(scaling: AutoScaling | None) -> str:
    """Peak devices against average, and what auto-scaling saves; a hint when no peak was given."""
    if scaling is None:
        return "No peak given: pass --peak-rate or --trace to see what auto-scaling would save."
    text = (
        f"The peak needs {scaling.peak_devices} device{'s' if scaling.peak_devices != 1 else ''} against "
        f"{format_number(scaling.average_devices)} on average ({scaling.basis})"
    )
    a, s = scaling.always_on_usd_per_month, scaling.autoscaled_usd_per_month
    if a is not None and s is not None:
        text += f": always on at the peak {usd(a)}/month, auto-scaled about {usd(s)}/month, saving {usd(a - s)}/month"
    return text + "."


def plan_rows(options: Sequence[PlanOption], cheapest: PlanOption | None) -> list[dict[str, str]]:
    """The plan table as display strings, one row per option, in the plan's order."""
    rows = []
    for o in options:
        verdict = "cheapest" if cheapest is not None and o is cheapest else "meets SLA" if o.feasible else "no"
        if o.feasible and o.within_budget is False:
            verdict = "over budget"
        rows.append(
            {
                "option": o.label,
                "kind": o.kind,
                "devices": DASH if o.devices is None else str(o.devices),
                "batch": DASH if o.max_batch is None else str(o.max_batch),
                "delay": fmt(o.max_delay_ms),
                "p99": fmt(o.p99_ms),
                "util": fmt(o.utilisation, 100),
                "power": fmt(o.average_w),
                "month": fmt(o.usd_per_month),
                "million": fmt(o.usd_per_million),
                "verdict": verdict,
                "reason": o.reason or o.cost_note,
            }
        )
    return rows
