"""The SVG chart engine: a scatter plot with a trade-off line, a threshold line and greedy labels.

Self-contained on purpose: it knows nothing of records or rankings, only the :class:`Chart` it is
given, so that it can be swapped for a plotting library without touching the page. Output is one
``<svg>`` string with no script; hovering a point shows its figures (SVG ``<title>``). Every string
is escaped here (labels and tips come from the network).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.numbers import fmt

FRONT_COLOUR = "#c4320a"
OTHER_COLOUR = "#8c959f"
SLA_COLOUR = "#b42318"
GRID_COLOUR = "#eaeef2"
AXIS_COLOUR = "#57606a"

#: Label every point when there are at most this many; otherwise only the front and the recommendation.
LABEL_ALL_UP_TO = 12

#: A point mark: "front", "other" (a later front) or "unranked".
KINDS = ("unranked", "other", "front")
_MARK_MARGIN = 4

_W, _H = 600, 390
_ML, _MR, _MT, _MB = 66, 22, 40, 56

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ChartPoint:
    """One point; a None coordinate leaves it off the plot (and counted as "not plotted")."""

    x: float | None
    y: float | None
    label: str
    kind: str  # one of KINDS
    recommended: bool
    tip: str  # shown on hover, lines separated by "\n"
    on_line: bool = False  # joined by the trade-off line


@dataclass(frozen=True)
class Chart:
    """What to draw: points, titles with units, an optional horizontal threshold (value, label)."""

    points: Sequence[ChartPoint]
    title: str
    x_label: str
    y_label: str
    hline: tuple[float, str] | None = None
    include_zero_y: bool = False
    allow_log_y: bool = False


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_svg(chart: Chart) -> str:
    """``chart`` as one ``<svg>`` element (a string)."""
    plotted = [p for p in chart.points if p.x is not None and p.y is not None]
    missing = len(chart.points) - len(plotted)
    head = (
        f'<svg viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{_e(chart.title)}" font-family="system-ui, sans-serif">'
        f'<text x="{_ML}" y="20" font-size="14" font-weight="600" fill="#1f2328">{_e(chart.title)}</text>'
    )
    if not plotted:
        return (
            head + f'<rect x="{_ML}" y="{_MT}" width="{_W - _ML - _MR}" height="{_H - _MT - _MB}" '
            f'fill="#f6f8fa" stroke="{GRID_COLOUR}"/>'
            f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle" font-size="13" fill="{AXIS_COLOUR}">'
            f"No point has both figures ({_e(chart.x_label)}; {_e(chart.y_label)})</text></svg>"
        )
    hline = chart.hline
    xs = [p.x for p in plotted if p.x is not None]
    ys = [p.y for p in plotted if p.y is not None] + ([hline[0]] if hline is not None else [])
    x_axis = Axis.fit(xs, allow_log=True)
    y_axis = Axis.fit(ys + ([0.0] if chart.include_zero_y else []), allow_log=chart.allow_log_y)
    left, right, top, bottom = _ML, _W - _MR, _MT, _H - _MB

    def sx(v: float) -> float:
        return x_axis.position(v, left, right)

    def sy(v: float) -> float:
        return y_axis.position(v, bottom, top)

    centres = {id(p): (sx(p.x), sy(p.y)) for p in plotted if p.x is not None and p.y is not None}
    out = [head, _frame(chart, x_axis, y_axis, sx, sy)]
    boxes: list[Box] = []
    if hline is not None:
        out.append(_threshold(hline, sy(hline[0]), list(centres.values()), boxes))
    out.append(_trade_off_line([centres[id(p)] for p in plotted if p.on_line]))
    out.extend(_mark(p, *centres[id(p)]) for p in sorted(plotted, key=lambda p: (p.recommended, KINDS.index(p.kind))))
    out.extend(_labels(plotted, centres, boxes))
    if missing:
        out.append(
            f'<text x="{right}" y="20" text-anchor="end" font-size="11" fill="{AXIS_COLOUR}">'
            f"{missing} not plotted (missing figures)</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _frame(chart: Chart, x_axis: Axis, y_axis: Axis, sx: Callable[[float], float], sy: Callable[[float], float]) -> str:
    """Background, grid, ticks, axes and axis titles."""
    left, right, top, bottom = _ML, _W - _MR, _MT, _H - _MB
    out = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fff"/>']
    for t in x_axis.ticks:
        px = sx(t)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="{GRID_COLOUR}"/>')
        out.append(
            f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="{AXIS_COLOUR}">{_e(fmt(t))}</text>'
        )
    for t in y_axis.ticks:
        py = sy(t)
        stroke = "#c9d1d9" if t == 0 else GRID_COLOUR
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="{stroke}"/>')
        out.append(
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS_COLOUR}">{_e(fmt(t))}</text>'
        )
    out.append(f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="{AXIS_COLOUR}" stroke-width="1"/>')
    x_note = " · log scale" if x_axis.log else ""
    y_note = " · log scale" if y_axis.log else ""
    out.append(
        f'<text x="{(left + right) / 2}" y="{_H - 14}" text-anchor="middle" font-size="12" '
        f'fill="#1f2328">{_e(chart.x_label + x_note)}</text>'
    )
    out.append(
        f'<text transform="translate(16 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="12" fill="#1f2328">{_e(chart.y_label + y_note)}</text>'
    )
    return "".join(out)


def _threshold(hline: tuple[float, str], py: float, centres: list[tuple[float, float]], boxes: list[Box]) -> str:
    """The dashed threshold line; its label goes at whichever end has no point under it."""
    left, right = _ML, _W - _MR
    width = 6.3 * len(hline[1])
    ends = [
        (left + 4, "start", (left + 4, py - 17, left + 4 + width, py)),
        (right - 4, "end", (right - 4 - width, py - 17, right - 4, py)),
    ]
    dots = [(cx - 6, cy - 6, cx + 6, cy + 6) for cx, cy in centres]
    x_text, anchor, box_ = next((end for end in reversed(ends) if not any(_overlap(end[2], d) for d in dots)), ends[-1])
    boxes.append(box_)
    return (
        f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="{SLA_COLOUR}" '
        'stroke-dasharray="6 4" stroke-width="1.5"/>'
        f'<text x="{x_text:.1f}" y="{py - 5:.1f}" text-anchor="{anchor}" font-size="11" '
        f'fill="{SLA_COLOUR}">{_e(hline[1])}</text>'
    )


def _trade_off_line(centres: list[tuple[float, float]]) -> str:
    """A polyline through the points on the trade-off line, left to right; nothing for fewer than two."""
    if len(centres) < 2:
        return ""
    d = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in sorted(centres, key=lambda c: (c[0], -c[1])))
    return (
        f'<polyline points="{d}" fill="none" stroke="{FRONT_COLOUR}" stroke-width="2" '
        'stroke-opacity="0.55" stroke-linejoin="round"/>'
    )


def _mark(p: ChartPoint, cx: float, cy: float) -> str:
    if p.kind == "front":
        mark = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5.5" fill="{FRONT_COLOUR}" stroke="#fff"/>'
    elif p.kind == "other":
        mark = (
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{OTHER_COLOUR}" '
            'fill-opacity="0.75" stroke="#fff" stroke-width="0.5"/>'
        )
    else:
        mark = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#fff" stroke="{OTHER_COLOUR}" stroke-width="1.2"/>'
    if p.recommended:
        mark += f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="10" fill="none" stroke="{FRONT_COLOUR}" stroke-width="2"/>'
    return f'<g class="pt"><title>{_e(p.tip)}</title>{mark}</g>'


_SPOTS = (
    (9, 4, "start"),
    (-9, 4, "end"),
    (0, -11, "middle"),
    (0, 18, "middle"),
    (7, -8, "start"),
    (-7, -8, "end"),
    (7, 15, "start"),
    (-7, 15, "end"),
)


def _labels(plotted: list[ChartPoint], centres: dict[int, tuple[float, float]], boxes: list[Box]) -> list[str]:
    """Point labels placed greedily so that they overlap neither each other nor other points.

    All points are labelled up to LABEL_ALL_UP_TO, else the front and the recommendation; the
    recommendation always is, as a last resort where it overlaps but fits."""
    left, right, top, bottom = _ML, _W - _MR, _MT, _H - _MB
    label_all = len(plotted) <= LABEL_ALL_UP_TO
    wanted = [p for p in plotted if label_all or p.kind == "front" or p.recommended]
    wanted.sort(key=lambda p: (not p.recommended, p.kind != "front"))
    m = _MARK_MARGIN
    dots = {k: (cx - m, cy - m, cx + m, cy + m) for k, (cx, cy) in centres.items()}
    out = []
    size = 11
    for p in wanted:
        cx, cy = centres[id(p)]
        label = ("★ " if p.recommended else "") + p.label
        width = 6.3 * len(label) + 2
        passes = (True, False) if p.recommended else (True,)
        for (dx, dy, anchor), must_be_clear in ((s_, m_) for m_ in passes for s_ in _SPOTS):
            gap = 4 if p.recommended else 0
            dx = dx + (gap if dx > 0 else -gap if dx < 0 else 0)
            dy = dy + (-gap if dy < 0 else gap if dy > 4 else 0)
            x_text = cx + dx
            bx0 = x_text if anchor == "start" else x_text - width if anchor == "end" else x_text - width / 2
            box_ = (bx0, cy + dy - size, bx0 + width, cy + dy + 2)
            inside = box_[0] >= left + 2 and box_[2] <= right - 2 and box_[1] >= top and box_[3] <= bottom
            clear = not any(_overlap(box_, b) for b in boxes) and not any(
                _overlap(box_, d) for k, d in dots.items() if k != id(p)
            )
            if inside and (clear or not must_be_clear):
                boxes.append(box_)
                colour = FRONT_COLOUR if p.kind == "front" else AXIS_COLOUR
                weight = ' font-weight="700"' if p.recommended else ""
                out.append(
                    f'<text x="{x_text:.1f}" y="{cy + dy:.1f}" text-anchor="{anchor}" font-size="{size}" '
                    f'fill="{colour}"{weight} paint-order="stroke" stroke="#fff" stroke-width="3" '
                    f'stroke-linejoin="round">{_e(label)}</text>'
                )
                break
    return out


@dataclass(frozen=True)
class Axis:
    """A fitted axis: its domain, round-number ticks inside it, and whether it is logarithmic."""

    lo: float
    hi: float
    ticks: list[float]
    log: bool

    @classmethod
    def fit(cls, values: Sequence[float], allow_log: bool) -> Axis:
        """Linear, or logarithmic where allowed, all values positive and spanning more than 30×."""
        lo, hi = min(values), max(values)
        if allow_log and lo > 0 and hi / lo > 30:
            return cls(*_log_ticks(lo, hi), log=True)
        return cls(*_linear_ticks(lo, hi), log=False)

    def position(self, value: float, start: float, end: float) -> float:
        """Where ``value`` falls between pixel ``start`` (at ``lo``) and ``end`` (at ``hi``)."""
        if self.log:
            frac = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            frac = (value - self.lo) / (self.hi - self.lo)
        return start + frac * (end - start)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw:
            return m * magnitude
    return 10 * magnitude


def _linear_ticks(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """A padded domain around [lo, hi] and the round-number ticks inside it."""
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.07
    lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = [round(i * step, 12) for i in range(first, last + 1)]
    return lo, hi, ticks


def _log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    lo, hi = lo / 1.25, hi * 1.25
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    multiples = (1, 2, 5) if b - a <= 4 else (1,)
    ticks = [m * 10.0**k for k in range(a, b + 1) for m in multiples if lo <= m * 10.0**k <= hi]
    if len(ticks) < 2:
        ticks = [lo, hi]
    return lo, hi, ticks
