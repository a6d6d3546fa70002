"""The figures the front scatter's axes can show (:class:`AxisFigure`, one per objective a record
has), their labels and thresholds, and the pair the scatter opens on (:func:`default_axes`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.numbers import finite, fmt
from pipeline.objectives import OBJECTIVES, Objective
from pipeline.record import Record
from pipeline.report.html.plots_common import axis_range, esc
from pipeline.summary import RunSummary


@dataclass(frozen=True)
class AxisFigure:
    """A figure the reader can put on an axis: its label with unit, one value per record (None: not
    plotted), a threshold line (the SLA, the accuracy budget) and how the axis is drawn."""

    key: str
    label: str
    better: str  # "higher" or "lower"
    values: tuple[float | None, ...]
    threshold: tuple[float, str] | None = None
    kinds: tuple[str | None, ...] = ()  # per record: measured, estimated or projected (FIGURE_KINDS)

    def axis(self) -> dict[str, Any]:
        """plotly axis settings: type, a range that makes sense (never −1…1 around a flat 0), title."""
        kind, lo, hi = axis_range([v for v in self.values if v is not None], self.threshold)
        note = " · log scale" if kind == "log" else ""
        return {
            "title": {"text": esc(f"{self.label} ({self.better} is better){note}")},
            "type": kind,
            "range": [lo, hi],
            "autorange": False,
            "gridcolor": "#eaeef2",
            "zeroline": False,
        }


def axis_figures(summary: RunSummary) -> list[AxisFigure]:
    """Every figure the front scatter can plot that at least one record has, one per underlying
    figure: the ranking's objectives first, then the rest of :data:`OBJECTIVES`."""
    records = summary.records
    sla = summary.constraints.sla_p99_ms
    budget = summary.constraints.max_accuracy_loss
    out: list[AxisFigure] = []
    seen: set[str] = set()
    extra = [o for o in OBJECTIVES.values() if o not in summary.ranking.objectives]
    ordered = list(summary.ranking.objectives) + extra
    for objective in ordered:
        key = objective.name
        if key in seen:
            continue
        seen.add(key)
        values = tuple(_axis_value(summary, objective, r) for r in records)
        if all(v is None for v in values):
            continue
        threshold = None
        if key == "accuracy_loss_abs" and budget is not None:
            threshold = (budget * 100, f"max loss {fmt(budget, 100)} pp")
        elif key == "latency_p99_ms" and sla is not None:
            threshold = (sla, f"SLA {fmt(sla)} ms")
        out.append(
            AxisFigure(
                key=key,
                label=_axis_label(summary, objective),
                better="higher" if objective.sense == "max" else "lower",
                values=values,
                threshold=threshold,
                kinds=tuple(
                    objective.kind_of(r) if v is not None else None for r, v in zip(records, values, strict=True)
                ),
            )
        )
    return out


def _axis_value(summary: RunSummary, objective: Objective, record: Record) -> float | None:
    value = finite(objective.of(record))
    if value is None:
        return None
    if objective.name == "accuracy_loss_abs":
        return value * 100
    if objective.name == "throughput_at_sla_ips" and summary.ranking.meets_sla(record.id) is False:
        return None  # this batch size misses the p99 target: it has no throughput *at* the target
    return value


def _axis_label(summary: RunSummary, objective: Objective) -> str:
    if objective.name == "accuracy_loss_abs":
        fidelity = [r.loss_is_fidelity for r in summary.records if r.accuracy_loss is not None]
        if fidelity and all(fidelity):
            return "fidelity loss, pp (1 − agreement with FP32)"
        return "accuracy loss, pp" + (" (some are fidelity to FP32)" if any(fidelity) else " (top-1)")
    if objective.name == "cost_usd_per_million":
        return "cost, USD per million inferences at full load"
    if objective.name == "throughput_at_sla_ips":
        sla = summary.constraints.sla_p99_ms
        return f"throughput at the p99 target ({fmt(sla)} ms), inf/s" if sla is not None else "throughput, inf/s"
    estimated = objective.from_power and any(r.power_estimated for r in summary.records)
    return f"{objective.label}, {objective.unit}" + (" (some power estimated)" if estimated else "")


def default_axes(figures: Sequence[AxisFigure]) -> tuple[str, str]:
    """Efficiency (or throughput) across, accuracy loss up: the trade-off a build choice is about."""
    keys = [f.key for f in figures]
    across = ("inferences_per_joule", "inferences_per_joule_above_idle", "throughput_ips", "throughput_at_sla_ips")
    x = next((k for k in across if k in keys), keys[0])
    y = next((k for k in ("accuracy_loss_abs", "latency_p99_ms", "cost_usd_per_million") if k in keys and k != x), x)
    return x, y
