"""What every chart of the report shares: the colours and fonts, the :class:`Plot` a chart is, the
base layout, the axis range, the dashed threshold line and a build's short label; plotly.js itself
(:func:`plotly_js`) and the JSON that carries a figure into the page (:func:`script_json`).

plotly rather than a chart engine of our own: hover, zoom and axis choice come with it. Each chart is
a :class:`Plot`, a figure as plain JSON that the page hands to ``Plotly.newPlot``; plotly.js itself is
inlined once per page (:func:`plotly_js`), so the report still opens offline. Strings from the
network are HTML-escaped (:func:`esc`) before plotly sees them (it renders a subset of HTML in hover
text), and :func:`script_json` makes the JSON safe inside a ``<script>`` element.

The charts: the front scatter (:mod:`.plots_front`, its axes in :mod:`.plots_front_axes` and label
placement in :mod:`.plots_front_labels`), latency and power (:mod:`.plots_measured`), the roofline
and the planner (:mod:`.plots_decision`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.record import Record
from pipeline.report.view import text

FRONT_COLOUR = "#c4320a"
OTHER_COLOUR = "#8c959f"
UNRANKED_COLOUR = "#afb8c1"
LINE_COLOUR = "#b42318"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
#: What the page passes to every ``Plotly.newPlot``: no plotly logo, no link out, resizes with the page.
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
#: Logarithmic axis once every value is positive and they span more than this factor.
LOG_SPAN = 30.0


@cache
def plotly_js() -> str:
    """plotly.js, minified, from the installed plotly package (inlined once per page)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def script_json(value: Any) -> str:
    """``value`` as JSON that cannot end a ``<script>`` element or open a comment inside it."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")


def esc(value: object) -> str:
    """``value`` as text plotly shows, not HTML it renders."""
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


def base_layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    """The layout every chart starts from: title, font, margins, gridlines, the legend at the foot."""
    layout: dict[str, Any] = {
        "title": {"text": esc(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "font": {"family": FONT, "size": 12, "color": "#1f2328"},
        "margin": {"l": 70, "r": 20, "t": 44, "b": 96},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "xaxis": {"title": {"text": esc(x_title)}, "gridcolor": "#eaeef2", "zeroline": False},
        "yaxis": {"title": {"text": esc(y_title)}, "gridcolor": "#eaeef2", "zeroline": False},
        # at the foot of the figure, below the x axis's title whatever the plot's height
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "hoverlabel": {"align": "left"},
    }
    layout.update(extra)
    return layout


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


def dashed_line(axis: str, value: float) -> dict[str, Any]:
    """A dashed line across the plot at ``value`` on ``axis`` ("x": vertical, "y": horizontal)."""
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


def point_label(record: Record) -> str:
    """A build as the charts label it: variant and batch size (and concurrency above 1)."""
    return f"{text(record.variant_id)}/b{text(record.batch_size)}" + (
        f"c{record.concurrency}" if record.concurrency > 1 else ""
    )
