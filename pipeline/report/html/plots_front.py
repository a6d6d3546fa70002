"""The front scatter (:func:`front_scatter`): every build on two figures the reader chooses, the
Pareto front and the recommendation marked and labelled, the full record on hover, and the dashed
threshold lines (SLA, accuracy budget) of the chosen axes (:func:`threshold_marks`)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.numbers import fmt
from pipeline.record import Record
from pipeline.report.html.plots_common import (
    FRONT_COLOUR,
    LINE_COLOUR,
    OTHER_COLOUR,
    UNRANKED_COLOUR,
    Plot,
    base_layout,
    dashed_line,
    esc,
    point_label,
)
from pipeline.report.html.plots_front_axes import AxisFigure, axis_figures, default_axes
from pipeline.report.html.plots_front_labels import label_positions
from pipeline.report.view import not_ranked_reason, text
from pipeline.summary import RunSummary


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


def hover_text(summary: RunSummary, index: int, figures: Sequence[AxisFigure]) -> str:
    """Record ``index`` in full, as plotly hover text: identity, then every figure with its unit and kind."""
    record = summary.records[index]
    lines = [
        f"<b>{esc(text(record.id))}</b>",
        esc(
            f"{text(record.runtime)} {record.runtime_version} · {text(record.precision)} · batch "
            f"{record.batch_size}" + (f" · {record.concurrency} in flight" if record.concurrency > 1 else "")
        ),
        esc(f"device {text(record.device_id)} ({text(record.target)})"),
    ]
    for f in figures:
        value = f.values[index]
        kind = f.kinds[index] if f.kinds else None
        shown = fmt(value) if value is not None else "–"
        lines.append(esc(f"{f.label}: {shown}" + (f" [{kind}]" if kind and value is not None else "")))
    if record.power is not None:
        lines.append(
            esc(
                f"power {fmt(record.power.avg_w)} W avg, idle {fmt(record.power.idle_w)} W "
                f"[{'estimated' if record.power.estimated else 'measured'}: {record.power.source}]"
            )
        )
    if record.roofline is not None:
        roof = record.roofline
        basis = "estimated" if roof.estimated else "from the profile"
        lines.append(
            esc(
                f"roofline: {fmt(roof.fraction, 100)}% of the {roof.bound}-bound limit "
                f"({fmt(roof.bound_ips)} inf/s) [peak and bandwidth {basis}]"
            )
        )
    rank = summary.ranking.rank(record.id)
    lines.append(
        esc(f"front {rank + 1}" if rank is not None else "not ranked: " + (not_ranked_reason(summary, record) or ""))
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
                "name": esc(name),
                "x": [by_key[x_key].values[i] for i in idx],
                "y": [by_key[y_key].values[i] for i in idx],
                "text": [esc(point_label(summary.records[i])) if i in labelled else "" for i in idx],
                "textposition": [positions[f"{x_key}|{y_key}"][i] for i in idx],
                "textfont": {"size": 11, "color": FRONT_COLOUR if group in ("front", "recommended") else OTHER_COLOUR},
                "hovertext": [hovers[i] for i in idx],
                "hoverinfo": "text",
                "marker": marker,
                "cliponaxis": False,
            }
        )
    layout = base_layout("Builds on two figures of your choice", by_key[x_key].label, by_key[y_key].label)
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
        shapes.append(dashed_line("x", value))
        notes.append(
            {"x": value, "xref": "x", "y": 1, "yref": "paper", "text": esc(label), "showarrow": False,
             "xanchor": "left", "yanchor": "top", "font": {"color": LINE_COLOUR, "size": 11}}
        )  # fmt: skip
    if y is not None and y.threshold is not None:
        value, label = y.threshold
        shapes.append(dashed_line("y", value))
        notes.append(
            {"x": 1, "xref": "paper", "y": value, "yref": "y", "text": esc(label), "showarrow": False,
             "xanchor": "right", "yanchor": "bottom", "font": {"color": LINE_COLOUR, "size": 11}}
        )  # fmt: skip
    return shapes, notes
