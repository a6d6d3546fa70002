"""The report's charts as plotly figures: the front scatter (both axes chosen by the reader), the
latency percentiles, the window's power, the roofline and the planner's configurations.

plotly rather than a chart engine of our own: hover, zoom and axis choice come with it. Each chart is
a :class:`Plot`, a figure as plain JSON that the page hands to ``Plotly.newPlot``; plotly.js itself is
inlined once per page (:func:`plotly_js`), so the report still opens offline. Strings from the
network are HTML-escaped here before plotly sees them (it renders a subset of HTML in hover text),
and :func:`script_json` makes the JSON safe inside a ``<script>`` element.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.numbers import finite, fmt
from pipeline.objectives import OBJECTIVES, Objective
from pipeline.record import Record
from pipeline.report.view import not_ranked_reason, text
from pipeline.summary import RunSummary

FRONT_COLOUR = "#c4320a"
OTHER_COLOUR = "#8c959f"
UNRANKED_COLOUR = "#afb8c1"
LINE_COLOUR = "#b42318"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
#: What the page passes to every ``Plotly.newPlot``: no plotly logo, no link out, resizes with the page.
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
#: The scatter's plot area as the label placement assumes it (px); the real one is close at 900-1400 px.
PLOT_W, PLOT_H = 560.0, 330.0
#: Logarithmic axis once every value is positive and they span more than this factor.
LOG_SPAN = 30.0
#: The plotly textpositions a front label may take, in order of preference (boxes in :func:`_box`).
POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left", "bottom right")
_CHAR_W, _LINE_H, _GAP = 6.6, 14.0, 7.0


@cache
def plotly_js() -> str:
    """plotly.js, minified, from the installed plotly package (inlined once per page)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def script_json(value: Any) -> str:
    """``value`` as JSON that cannot end a ``<script>`` element or open a comment inside it."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Plot:
    """One chart: the id of its ``<div>``, the plotly figure (``data`` and ``layout``) as JSON-ready
    dicts, a caption, and for the front scatter the axis choices the page's selects switch between."""

    id: str
    figure: dict[str, Any]
    caption: str = ""
    axes: dict[str, Any] = field(default_factory=dict)  # key -> axis choice (front scatter only)
    default_axes: tuple[str, str] | None = None


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": _e(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "font": {"family": FONT, "size": 12, "color": "#1f2328"},
        "margin": {"l": 70, "r": 20, "t": 44, "b": 96},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "xaxis": {"title": {"text": _e(x_title)}, "gridcolor": "#eaeef2", "zeroline": False},
        "yaxis": {"title": {"text": _e(y_title)}, "gridcolor": "#eaeef2", "zeroline": False},
        # at the foot of the figure, below the x axis's title whatever the plot's height
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "hoverlabel": {"align": "left"},
    }
    layout.update(extra)
    return layout


# ---------------------------------------------------------------------------------------------------
# Front scatter


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
            "title": {"text": _e(f"{self.label} ({self.better} is better){note}")},
            "type": kind,
            "range": [lo, hi],
            "autorange": False,
            "gridcolor": "#eaeef2",
            "zeroline": False,
        }


def axis_range(values: Sequence[float], threshold: tuple[float, str] | None) -> tuple[str, float, float]:
    """("linear" or "log", lo, hi) for ``values`` and the threshold: log when all are positive and
    span more than LOG_SPAN (the range then in log10 units); a flat set gets a range above its value
    (a loss of 0 everywhere reads 0 at the bottom, not the middle of −1…1)."""
    points = list(values) + ([threshold[0]] if threshold is not None else [])
    if not points:
        return "linear", 0.0, 1.0
    lo, hi = min(points), max(points)
    if lo > 0 and hi / lo > LOG_SPAN:
        return "log", math.log10(lo) - 0.08, math.log10(hi) + 0.08
    if hi == lo:
        pad = abs(lo) * 0.2 or 1.0
        if lo >= 0:
            return "linear", lo - pad * 0.08 if lo == 0 else lo - pad, hi + pad
        return "linear", lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    low = lo - pad
    if lo >= 0 > low:  # figures that cannot be negative: stop just below zero
        low = -pad * 0.4
    return "linear", low, hi + pad


#: Not a ranking objective, but what a CPU-load estimate without an idle figure still gives.
IPJ_ABOVE_IDLE = Objective(
    name="inferences_per_joule_above_idle",
    sense="max",
    label="inferences per joule above idle",
    unit="inf/J",
    phrase="most inferences per joule above idle",
    value=lambda r: r.inferences_per_joule_above_idle,
    from_power=True,
    kind=lambda r: "estimated" if r.power_estimated else "measured",
)


def axis_figures(summary: RunSummary) -> list[AxisFigure]:
    """Every figure the front scatter can plot that at least one record has, one per underlying
    figure: the ranking's objectives first, then the rest of :data:`OBJECTIVES`."""
    records = summary.records
    sla = summary.constraints.sla_p99_ms
    budget = summary.constraints.max_accuracy_loss
    out: list[AxisFigure] = []
    seen: set[str] = set()
    extra = [o for o in (*OBJECTIVES.values(), IPJ_ABOVE_IDLE) if o not in summary.ranking.objectives]
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


def _group(summary: RunSummary, record: Record) -> str:
    rec = summary.recommendation
    if rec is not None and rec.id == record.id:
        return "recommended"
    rank = summary.ranking.rank(record.id)
    if rank is None or not record.valid:
        return "unranked"
    return "front" if rank == 0 else "later"


#: The scatter's traces: group -> (legend name, marker).
GROUPS = {
    "recommended": (
        "★ recommended",
        {"symbol": "star", "size": 17, "color": FRONT_COLOUR, "line": {"color": "#1f2328", "width": 1}},
    ),
    "front": ("Pareto front (all objectives)", {"symbol": "circle", "size": 11, "color": FRONT_COLOUR}),
    "later": ("later fronts", {"symbol": "circle", "size": 8, "color": OTHER_COLOUR, "opacity": 0.8}),
    "unranked": (
        "not ranked (invalid or outside the constraints)",
        {"symbol": "circle-open", "size": 8, "color": UNRANKED_COLOUR, "line": {"width": 1.5}},
    ),
}


def point_label(record: Record) -> str:
    return f"{text(record.variant_id)}/b{text(record.batch_size)}" + (
        f"c{record.concurrency}" if record.concurrency > 1 else ""
    )


def hover_text(summary: RunSummary, index: int, figures: Sequence[AxisFigure]) -> str:
    """Record ``index`` in full, as plotly hover text: identity, then every figure with its unit and kind."""
    record = summary.records[index]
    lines = [
        f"<b>{_e(text(record.id))}</b>",
        _e(
            f"{text(record.runtime)} {record.runtime_version} · {text(record.precision)} · batch "
            f"{record.batch_size}" + (f" · {record.concurrency} in flight" if record.concurrency > 1 else "")
        ),
        _e(f"device {text(record.device_id)} ({text(record.target)})"),
    ]
    for f in figures:
        value = f.values[index]
        kind = f.kinds[index] if f.kinds else None
        shown = fmt(value) if value is not None else "–"
        lines.append(_e(f"{f.label}: {shown}" + (f" [{kind}]" if kind and value is not None else "")))
    if record.power is not None:
        lines.append(
            _e(
                f"power {fmt(record.power.avg_w)} W avg, idle {fmt(record.power.idle_w)} W "
                f"[{'estimated' if record.power.estimated else 'measured'}: {record.power.source}]"
            )
        )
    if record.roofline is not None:
        roof = record.roofline
        basis = "estimated" if roof.estimated else "from the profile"
        lines.append(
            _e(
                f"roofline: {fmt(roof.fraction, 100)}% of the {roof.bound}-bound limit "
                f"({fmt(roof.bound_ips)} inf/s) [peak and bandwidth {basis}]"
            )
        )
    rank = summary.ranking.rank(record.id)
    lines.append(
        _e(f"front {rank + 1}" if rank is not None else "not ranked: " + (not_ranked_reason(summary, record) or ""))
    )
    return "<br>".join(lines)


def front_scatter(summary: RunSummary) -> Plot | None:
    """The records on two chosen figures, front and recommendation marked; None without records."""
    figures = axis_figures(summary)
    if not summary.records or not figures:
        return None
    by_key = {f.key: f for f in figures}
    x_key, y_key = default_axes(figures)
    groups = {g: [i for i, r in enumerate(summary.records) if _group(summary, r) == g] for g in GROUPS}
    labelled = {i for g in ("recommended", "front") for i in groups[g]}
    positions = {
        f"{a.key}|{b.key}": label_positions(a, b, labelled, [point_label(r) for r in summary.records])
        for a in figures
        for b in figures
    }
    hovers = [hover_text(summary, i, figures) for i in range(len(summary.records))]
    data = []
    trace_points = []
    for group, (name, marker) in GROUPS.items():
        idx = groups[group]
        if not idx:
            continue
        trace_points.append(idx)
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": _e(name),
                "x": [by_key[x_key].values[i] for i in idx],
                "y": [by_key[y_key].values[i] for i in idx],
                "text": [_e(point_label(summary.records[i])) if i in labelled else "" for i in idx],
                "textposition": [positions[f"{x_key}|{y_key}"][i] for i in idx],
                "textfont": {"size": 11, "color": FRONT_COLOUR if group in ("front", "recommended") else OTHER_COLOUR},
                "hovertext": [hovers[i] for i in idx],
                "hoverinfo": "text",
                "marker": marker,
                "cliponaxis": False,
            }
        )
    layout = _layout("Builds on two figures of your choice", by_key[x_key].label, by_key[y_key].label)
    layout["xaxis"] = by_key[x_key].axis()
    layout["yaxis"] = by_key[y_key].axis()
    layout["shapes"], layout["annotations"] = threshold_marks(by_key[x_key], by_key[y_key])
    layout["height"] = 460
    axes = {
        f.key: {
            "label": f.label,
            "values": list(f.values),
            "axis": f.axis(),
            "marks": {"x": threshold_marks(f, None), "y": threshold_marks(None, f)},
        }
        for f in figures
    }
    caption = (
        "★ the recommended build · ● filled red: on the Pareto front over all the ranking's objectives, "
        "labelled · ● grey: later fronts · ○ not ranked. Choose the two figures above; hover a point "
        "for its full record, each figure marked measured, estimated or projected."
    )
    if "inferences_per_joule" not in by_key:
        why = (
            "no power figures in this run"
            if all(r.power is None for r in summary.records)
            else "no build has a gross energy figure (no idle power known); above idle is offered instead"
        )
        caption += f" Inferences per joule cannot be plotted: {why}."
    return Plot(
        id="plot-front",
        figure={"data": data, "layout": layout},
        caption=caption,
        axes={"figures": axes, "traces": trace_points, "positions": positions},
        default_axes=(x_key, y_key),
    )


def threshold_marks(x: AxisFigure | None, y: AxisFigure | None) -> tuple[list[dict], list[dict]]:
    """Dashed lines (shapes) and their labels (annotations) for the thresholds of the chosen axes."""
    shapes: list[dict] = []
    notes: list[dict] = []
    if x is not None and x.threshold is not None:
        value, label = x.threshold
        shapes.append(_line("x", value))
        notes.append(
            {"x": value, "xref": "x", "y": 1, "yref": "paper", "text": _e(label), "showarrow": False,
             "xanchor": "left", "yanchor": "top", "font": {"color": LINE_COLOUR, "size": 11}}
        )  # fmt: skip
    if y is not None and y.threshold is not None:
        value, label = y.threshold
        shapes.append(_line("y", value))
        notes.append(
            {"x": 1, "xref": "paper", "y": value, "yref": "y", "text": _e(label), "showarrow": False,
             "xanchor": "right", "yanchor": "bottom", "font": {"color": LINE_COLOUR, "size": 11}}
        )  # fmt: skip
    return shapes, notes


def _line(axis: str, value: float) -> dict[str, Any]:
    other = "y" if axis == "x" else "x"
    return {
        "type": "line",
        f"{axis}0": value,
        f"{axis}1": value,
        f"{axis}ref": axis,
        f"{other}0": 0,
        f"{other}1": 1,
        f"{other}ref": "paper",
        "line": {"color": LINE_COLOUR, "dash": "dash", "width": 1.5},
    }


def _fraction(axis: AxisFigure, value: float) -> float:
    kind, lo, hi = axis_range([v for v in axis.values if v is not None], axis.threshold)
    if kind == "log":
        value = math.log10(value)
    return (value - lo) / (hi - lo) if hi != lo else 0.5


def _box(position: str, px: float, py: float, width: float) -> tuple[float, float, float, float]:
    """The label's box (x0, y0, x1, y1; pixels, y down) at ``position`` around a point at (px, py)."""
    vertical, horizontal = position.split()
    if horizontal == "center":
        x0 = px - width / 2
    elif horizontal == "right":
        x0 = px + (_GAP if vertical == "middle" else 2)
    else:
        x0 = px - width - (_GAP if vertical == "middle" else 2)
    if vertical == "top":
        y0 = py - _GAP - _LINE_H
    elif vertical == "bottom":
        y0 = py + _GAP
    else:
        y0 = py - _LINE_H / 2
    return x0, y0, x0 + width, y0 + _LINE_H


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def label_positions(x: AxisFigure, y: AxisFigure, labelled: set[int], labels: Sequence[str]) -> list[str]:
    """A plotly textposition per record, chosen greedily so that front labels overlap neither each
    other nor other points (least overlap when no spot is clear), for the ``x``/``y`` pair."""
    where: dict[int, tuple[float, float]] = {}
    for i, (vx, vy) in enumerate(zip(x.values, y.values, strict=True)):
        if vx is not None and vy is not None:
            where[i] = (_fraction(x, vx) * PLOT_W, (1 - _fraction(y, vy)) * PLOT_H)
    dots = {i: (px - 6, py - 6, px + 6, py + 6) for i, (px, py) in where.items()}
    placed: list[tuple[float, float, float, float]] = []
    out = ["top center"] * len(labels)
    for i in sorted((i for i in labelled if i in where), key=lambda i: where[i]):
        px, py = where[i]
        width = _CHAR_W * len(labels[i])

        def cost(position: str, i: int = i, px: float = px, py: float = py, width: float = width) -> float:
            box = _box(position, px, py, width)
            clash = sum(_overlap(box, b) for b in placed) + sum(_overlap(box, d) for j, d in dots.items() if j != i)
            outside = max(0.0, -box[0]) + max(0.0, box[2] - PLOT_W) + max(0.0, -box[1]) + max(0.0, box[3] - PLOT_H)
            return clash + outside * _LINE_H

        best = min(POSITIONS, key=lambda p: (cost(p), POSITIONS.index(p)))
        out[i] = best
        placed.append(_box(best, px, py, width))
    return out


# ---------------------------------------------------------------------------------------------------
# Latency, power, roofline, planner


def _record_rows(records: Sequence[Record]) -> list[str]:
    return [_e(text(r.id)) for r in records]


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
    layout = _layout("Latency per query (ms)", "latency per query (ms)", "")
    layout["xaxis"].update({"type": kind, "range": [lo, hi], "autorange": False})
    layout["yaxis"].update({"automargin": True, "autorange": "reversed", "title": {"text": ""}})
    layout["height"] = 120 + 26 * len(records)
    if threshold is not None:
        layout["shapes"] = [_line("x", sla)]
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
    tips = [_e(_power_tip(r)) for r in records]
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
    layout = _layout("Average power per window (W)", "power (W)", "", barmode="stack")
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


def roofline_plot(summary: RunSummary) -> Plot | None:
    """The roofline of each (target, precision, power mode) measured, with each build on it."""
    records = [r for r in summary.records if _drawable_roofline(r)]
    if not records:
        return None
    data: list[dict[str, Any]] = []
    roofs: dict[tuple[str, str, str], tuple[float, float]] = {}
    for r in records:
        roof = r.roofline
        assert roof is not None
        # peak (op/s) and bandwidth (B/s) back from the bound: bound_ips × per-inference op or byte count
        if roof.bound == "memory":
            bandwidth = roof.bound_ips * roof.bytes_per_inference
            peak = bandwidth * roof.ridge_flop_per_byte
        else:
            peak = roof.bound_ips * roof.flops_per_inference
            bandwidth = peak / roof.ridge_flop_per_byte
        roofs.setdefault((text(r.target), roof.peak_precision, roof.power_mode), (peak, bandwidth))
    intensities = [r.roofline.intensity_flop_per_byte for r in records] + [  # type: ignore[union-attr]
        peak / bw for peak, bw in roofs.values()
    ]
    lo, hi = min(intensities) / 4, max(intensities) * 4
    for (target, precision, mode), (peak, bw) in roofs.items():
        ridge = peak / bw
        name = f"roof: {target} {precision}" + (f" ({mode})" if mode else "")
        data.append(
            {"type": "scatter", "mode": "lines", "name": _e(name),
             "x": [lo, ridge, hi], "y": [bw * lo / 1e9, peak / 1e9, peak / 1e9],
             "line": {"color": "#57606a", "width": 2},
             "hovertemplate": _e(f"{name}: peak {fmt(peak / 1e9)} G op/s, {fmt(bw / 1e9)} GB/s") + "<extra></extra>"}
        )  # fmt: skip
    tips = []
    for r in records:
        roof = r.roofline
        assert roof is not None
        tips.append(
            _e(f"{text(r.id)}: {fmt(roof.intensity_flop_per_byte)} op/B, "
               f"{fmt(r.throughput_ips * roof.flops_per_inference / 1e9)} G op/s measured = "
               f"{fmt(roof.fraction, 100)}% of its {roof.bound}-bound limit "
               f"({'estimated' if roof.estimated else 'sourced'} peak and bandwidth"
               f"{'; graph count is a lower bound' if roof.lower_bound_count else ''})")
        )  # fmt: skip
    rec_id = summary.recommendation.id if summary.recommendation else None
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "builds (measured throughput × counted ops)",
            "x": [r.roofline.intensity_flop_per_byte for r in records],  # type: ignore[union-attr]
            "y": [r.throughput_ips * r.roofline.flops_per_inference / 1e9 for r in records],  # type: ignore[union-attr]
            "text": [_e("★ " + point_label(r)) if r.id == rec_id else "" for r in records],
            "textposition": "middle right",
            "hovertext": tips,
            "hoverinfo": "text",
            "marker": {
                "size": [15 if r.id == rec_id else 9 for r in records],
                "symbol": ["star" if r.id == rec_id else "circle" for r in records],
                "color": [FRONT_COLOUR if r.id == rec_id else "#0969da" for r in records],
            },
        }
    )
    layout = _layout(
        "Roofline: measured performance against the device's limits",
        "arithmetic intensity (op per byte moved) · log scale",
        "performance, G op/s · log scale",
    )
    layout["xaxis"]["type"] = "log"
    layout["yaxis"]["type"] = "log"
    layout["height"] = 440
    return Plot(
        id="plot-roofline",
        figure={"data": data, "layout": layout},
        caption="Operations are FLOP, integer operations for an INT8 build. Left of a roof's corner a build "
        "is memory-bound (bytes moved limit it), right of it compute-bound. The gap below the roof is what "
        "the runtime leaves unused; hover for the fraction.",
    )


def _drawable_roofline(r: Record) -> bool:
    """Every figure the chart places is a positive finite number (a log-log chart places no other)."""
    roof = r.roofline
    if roof is None:
        return False
    figures = (
        roof.intensity_flop_per_byte,
        roof.ridge_flop_per_byte,
        roof.bound_ips,
        roof.flops_per_inference,
        roof.bytes_per_inference,
        r.throughput_ips,
    )
    return all((v := finite(f)) is not None and v > 0 for f in figures)


def plan_plot(summary: RunSummary) -> Plot | None:
    """The planner's configurations that meet the SLA, by cost per month, the cheapest marked."""
    plan = summary.plan
    if plan is None:
        return None
    options = [o for o in plan.options if o.feasible and finite(o.usd_per_month) is not None]
    if not options:
        return None
    names = [_e(o.label) for o in options]
    cheapest = plan.cheapest
    tips = [
        _e(f"{o.label}: {o.devices} device(s), max batch {o.max_batch}, p99 {fmt(o.p99_ms)} ms with queueing, "
           f"{fmt(o.utilisation, 100)}% busy, {fmt(o.usd_per_million)} USD per million [{o.kind}]"
           + (f"; assumes {o.assumption}" if o.assumption else ""))
        for o in options
    ]  # fmt: skip
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "USD per month",
            "x": [o.usd_per_month for o in options],
            "y": names,
            "text": [f"{fmt(o.usd_per_month)} USD · {o.devices} dev" for o in options],
            "textposition": "auto",
            "hovertext": tips,
            "hoverinfo": "text",
            "marker": {
                "color": [FRONT_COLOUR if o is cheapest else OTHER_COLOUR for o in options],
                "pattern": {"shape": ["/" if o.kind == "projected" else "" for o in options]},
            },
        }
    ]
    workload = plan.workload
    layout = _layout(
        f"Planner: cost per month of each configuration that serves {fmt(workload.rate_per_s)} req/s "
        f"at p99 ≤ {fmt(workload.p99_ms)} ms",
        "USD per month (the whole fleet)",
        "",
    )
    layout["yaxis"].update({"automargin": True, "autorange": "reversed", "title": {"text": ""}})
    layout["height"] = 130 + 28 * len(options)
    layout["showlegend"] = False
    return Plot(
        id="plot-plan",
        figure={"data": data, "layout": layout},
        caption="Red: the cheapest configuration that meets the SLA (queueing included); hatched: "
        "projected onto a target that was not measured.",
    )
