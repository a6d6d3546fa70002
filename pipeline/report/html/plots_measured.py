"""The measured charts: each build's latency percentiles per query (:func:`latency_plot`) and its
window's average power, idle and above idle (:func:`power_plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.numbers import finite, fmt
from pipeline.record import Record
from pipeline.report.html.plots_common import (
    FRONT_COLOUR,
    OTHER_COLOUR,
    Plot,
    axis_range,
    base_layout,
    dashed_line,
    esc,
)
from pipeline.report.view import text
from pipeline.summary import RunSummary


def _record_rows(records: Sequence[Record]) -> list[str]:
    return [esc(text(r.id)) for r in records]


def latency_plot(summary: RunSummary) -> Plot | None:
    """Each build's latency percentiles per query: the min–max span with p50, p90 and p99 marked."""
    records = [r for r in summary.records if finite(r.latency_ms.p50) is not None]
    if not records:
        return None
    names = _record_rows(records)
    span_x: list[float | None] = []
    span_y: list[str | None] = []
    for r, name in zip(records, names, strict=True):
        span_x += [finite(r.latency_ms.min), finite(r.latency_ms.max), None]
        span_y += [name, name, None]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "min – max", "x": span_x, "y": span_y,
         "line": {"color": "#d0d7de", "width": 6}, "hoverinfo": "skip"}
    ]  # fmt: skip
    marks = (("p50", "circle", "#57606a"), ("p90", "diamond", "#bf8700"), ("p99", "square", FRONT_COLOUR))
    for key, symbol, colour in marks:
        values = [finite(getattr(r.latency_ms, key)) for r in records]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{key} (ms)",
                "x": values,
                "y": names,
                "marker": {"symbol": symbol, "size": 9, "color": colour},
                "hovertemplate": f"%{{y}}<br>{key} %{{x:.3g}} ms<extra></extra>",
            }
        )
    all_values = [v for r in records for v in (finite(r.latency_ms.min), finite(r.latency_ms.max)) if v is not None]
    sla = summary.constraints.sla_p99_ms
    threshold = (sla, f"SLA {fmt(sla)} ms") if sla is not None else None
    kind, lo, hi = axis_range(all_values, threshold)
    layout = base_layout("Latency per query (ms)", "latency per query (ms)", "")
    layout["xaxis"].update({"type": kind, "range": [lo, hi], "autorange": False})
    layout["yaxis"].update({"automargin": True, "autorange": "reversed", "title": {"text": ""}})
    layout["height"] = 120 + 26 * len(records)
    if threshold is not None:
        layout["shapes"] = [dashed_line("x", sla)]
    return Plot(
        id="plot-latency",
        figure={"data": data, "layout": layout},
        caption="The agent records percentiles per measured window, not every query's time: the bar spans "
        "min to max, markers show p50, p90 and p99" + (f"; the dashed line is the {fmt(sla)} ms SLA." if sla else "."),
    )


def power_plot(summary: RunSummary) -> Plot | None:
    """Each build's average power over its window, split into idle and above idle where known."""
    records = [r for r in summary.records if r.power is not None and finite(r.power.avg_w or r.power.above_idle_w)]
    if not records:
        return None
    names = _record_rows(records)

    split = [_power_parts(r) for r in records]
    tips = [esc(_power_tip(r)) for r in records]
    patterns = ["/" if r.power_estimated else "" for r in records]
    traces = (
        ("idle (W)", "#d0d7de"),
        ("above idle (W)", FRONT_COLOUR),
        ("average, idle share unknown (W)", OTHER_COLOUR),
    )
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "x": [parts[k] for parts in split],
            "y": names,
            "hovertext": tips,
            "hoverinfo": "text",
            "marker": {"color": colour, "pattern": {"shape": patterns}},
        }
        for k, (name, colour) in enumerate(traces)
        if any(parts[k] is not None for parts in split)
    ]
    layout = base_layout("Average power per window (W)", "power (W)", "", barmode="stack")
    layout["yaxis"].update({"automargin": True, "autorange": "reversed", "title": {"text": ""}})
    layout["height"] = 120 + 26 * len(records)
    caption = (
        "The agents report each window's average power (gross, and its idle share), not a trace over "
        "time: no power trace was recorded in this run."
    )
    if any(r.power_estimated for r in records):
        caption += " Hatched bars are ESTIMATED from CPU load, not measured."
    return Plot(id="plot-power", figure={"data": data, "layout": layout}, caption=caption)


def _power_parts(r: Record) -> tuple[float | None, float | None, float | None]:
    """(idle, above idle, gross with no idle split) in W; the bars stack the first two."""
    p = r.power
    if p is None:
        return None, None, None
    idle, above, gross = finite(p.idle_w), finite(p.above_idle_w), finite(p.avg_w)
    if above is None and idle is not None and gross is not None:
        above = gross - idle
    if above is not None:
        return idle, above, None
    return None, None, gross


def _power_tip(r: Record) -> str:
    p = r.power
    assert p is not None
    kind = "ESTIMATED" if p.estimated else "measured"
    return f"{text(r.id)}: {fmt(p.avg_w)} W average, idle {fmt(p.idle_w)} W ({kind}: {p.source}; {p.idle_source})"
