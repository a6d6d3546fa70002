"""Where the front scatter puts each front label (:func:`label_positions`): beside its point, clear
of the other labels and points where it can be, for every pair of axes the reader may choose."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline.report.html.plots_common import axis_range
from pipeline.report.html.plots_front_axes import AxisFigure

#: The scatter's plot area as the label placement assumes it (px); the real one is close at 900-1400 px.
PLOT_W, PLOT_H = 560.0, 330.0
#: The plotly textpositions a front label may take, in order of preference (boxes in :func:`_box`).
POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left", "bottom right")
_CHAR_W, _LINE_H, _GAP = 6.6, 14.0, 7.0


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
