"""The HTML report: one self-contained page that works offline.

No scripts, no external fonts, stylesheets or images: CSS is inline and the two charts are SVG drawn
here. What a reader sees first is the recommended build and why, then the charts with the Pareto
front in a strong colour, then every measurement, the provenance of the figures, failures and notes.
Every string from the document goes through :func:`html.escape` (device ids and notes come from the
network). Hovering a point shows its figures (SVG ``<title>``, no script needed).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.pareto import (
    accuracy_loss,
    get_path,
    is_number,
    is_valid,
    loss_is_fidelity,
    pareto_ranks,
    power_estimated,
)
from pipeline.report import (
    COLUMNS,
    DASH,
    FIDELITY_MARK,
    FRONT_MARK,
    NUMERIC_COLUMNS,
    failures,
    find_record,
    fmt,
    grouped_notes,
    legend,
    measurement_summary,
    no_recommendation,
    not_ranked_reason,
    power_provenance,
    ranking_summary,
    recommendation,
    records,
    rows,
    short_ids,
    text,
)

FRONT_COLOUR = "#c4320a"
OTHER_COLOUR = "#8c959f"
SLA_COLOUR = "#b42318"
GRID_COLOUR = "#eaeef2"
AXIS_COLOUR = "#57606a"

# Label every point when there are at most this many; otherwise only the front and the recommendation.
LABEL_ALL_UP_TO = 12


def e(value: Any) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------------------
# Page


def render_html(doc: Mapping[str, Any]) -> str:
    """The report for results document ``doc``, as one HTML page (a string)."""
    model = doc.get("model") or {}
    title = f"edgeprof report · {text(model.get('name'))} · {text(doc.get('run_id'))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        _header(doc),
        _headline(doc),
        _charts(doc),
        _table(doc),
        _provenance(doc),
        _failed(doc),
        _notes(doc),
        _footer(doc),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _header(doc: Mapping[str, Any]) -> str:
    model = doc.get("model") or {}
    evalset = doc.get("eval") or {}
    devices = doc.get("devices") or []
    bits = [f"model <b>{e(text(model.get('name')))}</b>"]
    if is_number(evalset.get("samples")):
        labels = "labelled" if evalset.get("has_labels") else "unlabelled"
        bits.append(f"{e(fmt(evalset['samples']))} {labels} eval samples")
    n = len(records(doc))
    bits.append(f"{n} measurement{'s' if n != 1 else ''}")
    bits.append(f"{len(devices)} device{'s' if len(devices) != 1 else ''}")
    bits.append(f"run <code>{e(text(doc.get('run_id')))}</code>")
    if doc.get("created_at"):
        bits.append(e(doc["created_at"]))
    return (
        "<header><h1>Which build serves the most inferences per joule?</h1>"
        f'<p class="sub">{" · ".join(bits)}</p></header>'
    )


def _headline(doc: Mapping[str, Any]) -> str:
    rec = recommendation(doc)
    summary = f'<p class="ranked">{e(ranking_summary(doc))}</p>'
    if not rec:
        return (
            '<section class="headline none" id="recommended">'
            '<div class="label">No recommendation</div>'
            '<div class="rec-id">No build qualifies</div>'
            f'<p class="reason">{e(no_recommendation(doc))}</p>'
            f"{summary}</section>"
        )
    record = find_record(doc, rec.get("id")) or {}
    name = e(text(record.get("variant_id") or rec.get("id")))
    where = ""
    if record:
        where = (
            f' <span class="on">on</span> {e(text(record.get("device_id")))}'
            f' <span class="on">· {e(text(record.get("runtime")))} · batch '
            f"{e(text(record.get('batch_size')))}</span>"
        )
    tiles = _tiles(record) if record else ""
    return (
        '<section class="headline" id="recommended">'
        '<div class="label">Recommended build</div>'
        f'<div class="rec-id">{name}{where}</div>'
        f'<p class="reason">{e(rec.get("reason") or "")}</p>'
        f"{tiles}{summary}"
        f'<p class="rec-full">record <code>{e(rec.get("id"))}</code></p>'
        "</section>"
    )


def _tiles(record: Mapping[str, Any]) -> str:
    est = ' <span class="badge">est.</span>' if power_estimated(record) else ""
    loss = accuracy_loss(record)
    loss_key = "fidelity loss (pp)" if loss_is_fidelity(record) else "top-1 loss (pp)"
    sla = record.get("meets_sla")
    sla_note = ""
    if sla is True:
        sla_note = ' <span class="ok">within SLA</span>'
    tiles = [
        (fmt(record.get("inferences_per_joule")), "inferences per joule" + est),
        (fmt(loss, 100), e(loss_key)),
        (fmt(get_path(record, "latency_ms.p99")), "p99 latency (ms)" + sla_note),
        (fmt(record.get("throughput_ips")), "throughput (inf/s)"),
        (fmt(get_path(record, "power.avg_w")), "average power (W)" + est),
    ]
    # A missing figure gets no tile: the reason says what is missing.
    tiles = [(v, k) for v, k in tiles if v != DASH]
    cells = "".join(f'<div class="tile"><div class="v">{e(v)}</div><div class="k">{k}</div></div>' for v, k in tiles)
    return f'<div class="tiles">{cells}</div>'


def _charts(doc: Mapping[str, Any]) -> str:
    recs = records(doc)
    rec = recommendation(doc)
    rec_id = rec.get("id") if rec else None
    any_energy = any(is_number(r.get("inferences_per_joule")) for r in recs)
    estimated = [power_estimated(r) for r in recs if is_number(r.get("inferences_per_joule"))]
    fidelity = [loss_is_fidelity(r) for r in recs if accuracy_loss(r) is not None]

    if any_energy:
        x1_label = "inferences per joule (inf/J)"
        if estimated and all(estimated):
            x1_label += " · estimated power"
        elif any(estimated):
            x1_label += " · some estimated"
        x1 = "inferences_per_joule"
        title1 = "Energy efficiency vs accuracy loss"
    else:
        x1_label = "throughput (inf/s) · no power figures"
        x1 = "throughput_ips"
        title1 = "Throughput vs accuracy loss"
    if fidelity and all(fidelity):
        y1_label = "fidelity loss (pp, 1 − agreement with FP32)"
    elif any(fidelity):
        y1_label = f"accuracy loss (pp; {FIDELITY_MARK} = fidelity)"
    else:
        y1_label = "top-1 accuracy loss (pp)"

    sla = (doc.get("constraints") or {}).get("sla_p99_ms")
    max_loss = (doc.get("constraints") or {}).get("max_accuracy_loss_abs")
    chart1 = _scatter(
        _points(recs, rec_id, lambda r: _num(get_path(r, x1)), lambda r: _pp(accuracy_loss(r))),
        title=title1,
        x_label=x1_label,
        y_label=y1_label,
        senses=("max", "min"),
        hline=(max_loss * 100, f"max loss {fmt(max_loss, 100)} pp") if is_number(max_loss) else None,
        include_zero_y=True,
        allow_log_y=False,
    )
    chart2 = _scatter(
        _points(
            recs,
            rec_id,
            lambda r: _num(r.get("throughput_ips")),
            lambda r: _num(get_path(r, "latency_ms.p99")),
        ),
        title="Throughput vs p99 latency",
        x_label="throughput (inf/s)",
        y_label="p99 latency (ms)",
        senses=("max", "min"),
        hline=(float(sla), f"SLA {fmt(sla)} ms") if is_number(sla) else None,
        include_zero_y=False,
        allow_log_y=True,
    )
    caption = (
        '<span class="key front">●</span> Pareto front over all objectives, the line joining the '
        'builds that trade off these two · <span class="key rec">◎</span> recommended · '
        '<span class="key other">●</span> later fronts · <span class="key other">○</span> not ranked '
        "(invalid or outside the constraints). Better is to the right and lower down. "
        "Hover a point for its figures."
    )
    return (
        '<section class="charts">'
        f"<figure>{chart1}</figure><figure>{chart2}</figure>"
        f'<p class="legend wide">{caption}</p>'
        "</section>"
    )


def _num(value: Any) -> float | None:
    return float(value) if is_number(value) and math.isfinite(float(value)) else None


def _pp(value: float | None) -> float | None:
    return None if value is None else value * 100


# ---------------------------------------------------------------------------------------------------
# Charts


@dataclass(frozen=True)
class _Point:
    x: float | None
    y: float | None
    label: str
    kind: str  # "front", "other" (later front) or "unranked"
    recommended: bool
    tip: str


def _points(recs, rec_id, fx, fy) -> list[_Point]:
    out = []
    for r in recs:
        rank = r.get("pareto_rank")
        ranked = isinstance(rank, int) and not isinstance(rank, bool) and is_valid(r)
        kind = "front" if ranked and rank == 0 else "other" if ranked else "unranked"
        label = f"{text(r.get('variant_id'))}/b{text(r.get('batch_size'))}"
        tip = _tip(r)
        out.append(_Point(fx(r), fy(r), label, kind, rec_id is not None and r.get("id") == rec_id, tip))
    return out


def _tip(r: Mapping[str, Any]) -> str:
    est = " (est.)" if power_estimated(r) else ""
    loss = accuracy_loss(r)
    lines = [
        text(r.get("id")),
        f"{fmt(r.get('inferences_per_joule'))} inf/J{est} · {fmt(r.get('throughput_ips'))} inf/s",
        f"p50 {fmt(get_path(r, 'latency_ms.p50'))} ms · p99 {fmt(get_path(r, 'latency_ms.p99'))} ms",
        f"loss {fmt(loss, 100)} pp{' (fidelity)' if loss_is_fidelity(r) else ''} · "
        f"power {fmt(get_path(r, 'power.avg_w'))} W{est}",
    ]
    reason = not_ranked_reason(r)
    if reason:
        lines.append("not ranked: " + reason)
    elif not is_valid(r):
        lines.append("invalid measurement")
    return "\n".join(lines)


_W, _H = 600, 390
_ML, _MR, _MT, _MB = 66, 22, 40, 56


def _scatter(
    points: Sequence[_Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    senses: tuple[str, str],
    hline: tuple[float, str] | None,
    include_zero_y: bool,
    allow_log_y: bool,
) -> str:
    plotted = [p for p in points if p.x is not None and p.y is not None]
    missing = len(points) - len(plotted)
    head = (
        f'<svg viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{e(title)}" font-family="system-ui, sans-serif">'
        f'<text x="{_ML}" y="20" font-size="14" font-weight="600" fill="#1f2328">{e(title)}</text>'
    )
    if not plotted:
        return (
            head + f'<rect x="{_ML}" y="{_MT}" width="{_W - _ML - _MR}" height="{_H - _MT - _MB}" '
            f'fill="#f6f8fa" stroke="{GRID_COLOUR}"/>'
            f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle" font-size="13" fill="{AXIS_COLOUR}">'
            f"No point has both figures ({e(x_label)}; {e(y_label)})</text></svg>"
        )
    xs = [p.x for p in plotted]
    ys = [p.y for p in plotted] + ([hline[0]] if hline is not None else [])
    left, right, top, bottom = _ML, _W - _MR, _MT, _H - _MB
    x_axis = _Axis.fit(xs, allow_log=True)
    y_axis = _Axis.fit(ys + ([0.0] if include_zero_y else []), allow_log=allow_log_y)

    def sx(v: float) -> float:
        return x_axis.position(v, left, right)

    def sy(v: float) -> float:
        return y_axis.position(v, bottom, top)

    xticks, yticks = x_axis.ticks, y_axis.ticks
    out = [head]
    # Grid, ticks, axes.
    out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fff"/>')
    for t in xticks:
        px = sx(t)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="{GRID_COLOUR}"/>')
        out.append(
            f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="{AXIS_COLOUR}">{e(fmt(t))}</text>'
        )
    for t in yticks:
        py = sy(t)
        stroke = "#c9d1d9" if t == 0 else GRID_COLOUR
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="{stroke}"/>')
        out.append(
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS_COLOUR}">{e(fmt(t))}</text>'
        )
    out.append(f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="{AXIS_COLOUR}" stroke-width="1"/>')
    x_note = " · log scale" if x_axis.log else ""
    y_note = " · log scale" if y_axis.log else ""
    out.append(
        f'<text x="{(left + right) / 2}" y="{_H - 14}" text-anchor="middle" font-size="12" '
        f'fill="#1f2328">{e(x_label + x_note)}</text>'
    )
    out.append(
        f'<text transform="translate(16 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="12" fill="#1f2328">{e(y_label + y_note)}</text>'
    )
    boxes: list[tuple[float, float, float, float]] = []
    if hline is not None:
        py = sy(hline[0])
        out.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="{SLA_COLOUR}" '
            'stroke-dasharray="6 4" stroke-width="1.5"/>'
        )
        # The line's label goes at whichever end has no point under it.
        width = 6.3 * len(hline[1])
        ends = [
            (left + 4, "start", (left + 4, py - 17, left + 4 + width, py)),
            (right - 4, "end", (right - 4 - width, py - 17, right - 4, py)),
        ]
        dots = [(sx(p.x) - 6, sy(p.y) - 6, sx(p.x) + 6, sy(p.y) + 6) for p in plotted]
        x_text, anchor, box_ = next(
            (end for end in reversed(ends) if not any(_overlap(end[2], d) for d in dots)), ends[-1]
        )
        boxes.append(box_)
        out.append(
            f'<text x="{x_text:.1f}" y="{py - 5:.1f}" text-anchor="{anchor}" font-size="11" '
            f'fill="{SLA_COLOUR}">{e(hline[1])}</text>'
        )

    # The trade-off line: front points that are non-dominated in these two coordinates.
    front = [p for p in plotted if p.kind == "front"]
    if len(front) > 1:
        ranks = pareto_ranks([(p.x, p.y) for p in front], senses)
        line = sorted((p for p, r in zip(front, ranks, strict=True) if r == 0), key=lambda p: (p.x, p.y))
        if len(line) > 1:
            d = " ".join(f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in line)
            out.append(
                f'<polyline points="{d}" fill="none" stroke="{FRONT_COLOUR}" stroke-width="2" '
                'stroke-opacity="0.55" stroke-linejoin="round"/>'
            )

    # Points: unranked, then later fronts, then the front, then the recommendation on top.
    order = {"unranked": 0, "other": 1, "front": 2}
    for p in sorted(plotted, key=lambda p: (p.recommended, order[p.kind])):
        cx, cy = sx(p.x), sy(p.y)
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
        out.append(f'<g class="pt"><title>{e(p.tip)}</title>{mark}</g>')

    # Labels, placed greedily so that they do not overlap each other.
    label_all = len(plotted) <= LABEL_ALL_UP_TO
    wanted = [p for p in plotted if label_all or p.kind == "front" or p.recommended]
    wanted.sort(key=lambda p: (not p.recommended, p.kind != "front"))
    # Points are obstacles too, except the one being labelled.
    dots = {id(p): (sx(p.x) - 4, sy(p.y) - 4, sx(p.x) + 4, sy(p.y) + 4) for p in plotted}
    for p in wanted:
        cx, cy = sx(p.x), sy(p.y)
        label = (FRONT_MARK + " " if p.recommended else "") + p.label
        width = 6.3 * len(label) + 2
        size = 11
        spots = ((9, 4, "start"), (-9, 4, "end"), (0, -11, "middle"), (0, 18, "middle"))
        spots += ((7, -8, "start"), (-7, -8, "end"), (7, 15, "start"), (-7, 15, "end"))
        # The recommendation is always labelled: as a last resort, where it overlaps but fits.
        passes = (True, False) if p.recommended else (True,)
        placed = False
        for (dx, dy, anchor), must_be_clear in ((s_, m) for m in passes for s_ in spots):
            if placed:
                break
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
                placed = True
                boxes.append(box_)
                colour = FRONT_COLOUR if p.kind == "front" else AXIS_COLOUR
                weight = ' font-weight="700"' if p.recommended else ""
                out.append(
                    f'<text x="{x_text:.1f}" y="{cy + dy:.1f}" text-anchor="{anchor}" font-size="{size}" '
                    f'fill="{colour}"{weight} paint-order="stroke" stroke="#fff" stroke-width="3" '
                    f'stroke-linejoin="round">{e(label)}</text>'
                )

    if missing:
        out.append(
            f'<text x="{right}" y="20" text-anchor="end" font-size="11" fill="{AXIS_COLOUR}">'
            f"{missing} not plotted (missing figures)</text>"
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class _Axis:
    lo: float
    hi: float
    ticks: list[float]
    log: bool

    @classmethod
    def fit(cls, values: Sequence[float], allow_log: bool) -> _Axis:
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


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
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


# ---------------------------------------------------------------------------------------------------
# Table, provenance, failures, notes


def _table(doc: Mapping[str, Any]) -> str:
    table_rows = rows(doc)
    head = "".join(
        f'<th class="{"num" if key in NUMERIC_COLUMNS or key == "front" else ""}">{e(header)}</th>'
        for key, header in COLUMNS
    )
    body = []
    for row in table_rows:
        classes = []
        if row.front:
            classes.append("front")
        if row.recommended:
            classes.append("rec")
        if not row.valid or row.rank is None:
            classes.append("muted")
        cells = []
        for key, _ in COLUMNS:
            cls = []
            if key in NUMERIC_COLUMNS or key == "front":
                cls.append("num")
            if key == "front":
                cls.append("mark")
            if key == "p99" and row.meets_sla is False:
                cls.append("bad")
            if key == "valid" and not row.valid:
                cls.append("bad")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            if key == "runtime":
                version = row.record.get("runtime_version")
                ver = f' <span class="ver">{e(version)}</span>' if version else ""
                cells.append(f"<td{attr}>{e(text(row.record.get('runtime')))}{ver}</td>")
            else:
                cells.append(f"<td{attr}>{e(row.cells[key])}</td>")
        if row.notes:
            classes.append("has-notes")
        attr = f' class="{" ".join(classes)}"' if classes else ""
        body.append(f'<tr{attr} title="{e(row.record.get("id"))}">{"".join(cells)}</tr>')
        if row.notes:
            body.append(f'<tr class="note-row"><td colspan="{len(COLUMNS)}">↳ {e("; ".join(row.notes))}</td></tr>')
    if not table_rows:
        body.append(f'<tr><td colspan="{len(COLUMNS)}">No measurements in this run.</td></tr>')
    return (
        '<section id="measurements"><h2>All measurements</h2>'
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        f'<p class="legend">{e(legend(table_rows))}. Sorted front first, then by inferences per joule.</p>'
        "</section>"
    )


def _dl(items: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _provenance(doc: Mapping[str, Any]) -> str:
    power_lines = "".join(
        f'<li class="{"est" if "ESTIMATED" in line else ""}">{e(line)}</li>' for line in power_provenance(doc)
    )
    power = (
        '<div class="card"><h3>Power</h3>'
        f'<ul class="plain">{power_lines}</ul>'
        f'<p class="small">{e(measurement_summary(doc))}</p></div>'
    )

    model = doc.get("model") or {}
    inputs = []
    for i in model.get("inputs") or []:
        if isinstance(i, Mapping):
            shape = "×".join(str(s) for s in i.get("shape") or [])
            inputs.append(f"<code>{e(text(i.get('name')))}</code> {e(shape)} {e(text(i.get('dtype')))}")
    model_items = [
        ("name", e(text(model.get("name")))),
        ("sha256", f"<code>{e(text(model.get('sha256')))}</code>"),
        ("inputs", "<br>".join(inputs) or DASH),
        (
            "FLOPs per inference (static count: Conv, Gemm, MatMul; 2 per multiply-add)",
            e(fmt(model.get("flops_per_inference"))),
        ),
    ]
    evalset = doc.get("eval") or {}
    has_labels = evalset.get("has_labels")
    labels = (
        "yes: loss is top-1 against labels"
        if has_labels
        else "no: loss is fidelity to FP32 (1 − top-1 agreement)"
        if has_labels is False
        else DASH
    )
    eval_items = [
        ("source", f"<code>{e(text(evalset.get('source')))}</code>"),
        ("samples", e(fmt(evalset.get("samples")))),
        ("labels", e(labels)),
    ]
    data = (
        '<div class="card"><h3>Model and evaluation set</h3>'
        + _dl(model_items)
        + '<div class="gap"></div>'
        + _dl(eval_items)
        + "</div>"
    )

    device_rows = []
    for d in doc.get("devices") or []:
        if not isinstance(d, Mapping):
            continue
        runtimes = d.get("runtimes") or {}
        rt = ", ".join(f"{k} {v}" for k, v in runtimes.items()) if isinstance(runtimes, Mapping) else ""
        sources = ", ".join(str(s) for s in d.get("power_sources") or [])
        device_rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(v)}</td>"
                for v in (
                    text(d.get("device_id")),
                    text(d.get("target")),
                    text(d.get("hostname")),
                    rt or DASH,
                    sources or DASH,
                )
            )
            + "</tr>"
        )
    devices = (
        '<div class="card span"><h3>Devices</h3><div class="table-wrap flat"><table>'
        "<thead><tr><th>device</th><th>target</th><th>hostname</th><th>runtimes</th>"
        "<th>power sources</th></tr></thead>"
        f"<tbody>{''.join(device_rows) or _NO_DEVICES}</tbody>"
        "</table></div></div>"
    )
    return f'<section id="provenance"><h2>Provenance</h2><div class="prov">{power}{data}{devices}</div></section>'


_NO_DEVICES = '<tr><td colspan="5">none listed</td></tr>'


def _failed(doc: Mapping[str, Any]) -> str:
    failed = failures(doc)
    if not failed:
        return ""
    body = "".join(f'<tr><td>{e(v)}</td><td>{e(d)}</td><td class="err">{e(err)}</td></tr>' for v, d, err in failed)
    return (
        f'<section id="failed"><h2>Failed variants ({len(failed)})</h2>'
        '<div class="table-wrap"><table><thead><tr><th>variant</th><th>device</th><th>error</th></tr></thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _notes(doc: Mapping[str, Any]) -> str:
    notes = grouped_notes(doc)
    if not notes:
        return ""
    items = "".join(
        f'<li>{e(note)} <span class="ids" title="{e(", ".join(ids))}">({e(short_ids(ids))})</span></li>'
        for note, ids in notes
    )
    return f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'


def _footer(doc: Mapping[str, Any]) -> str:
    bits = [
        f"edgeprof {e(text(doc.get('edgeprof_version')))}",
        f"run {e(text(doc.get('run_id')))}",
        f"results schema {e(text(doc.get('schema_version')))}",
    ]
    if doc.get("created_at"):
        bits.append(f"created {e(doc['created_at'])}")
    bits.append("self-contained: no network needed to view")
    return f"<footer>{' · '.join(bits)}</footer>"


_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--accent:#c4320a;--accent-soft:#fff4ee;
--bad:#b42318;--est:#9a6700}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:28px 24px 40px}
h1{font-size:22px;margin:0 0 4px;font-weight:650}
h2{font-size:16px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line);font-weight:650}
h3{font-size:13px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.sub{color:var(--muted);margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
.headline{margin:20px 0 8px;padding:18px 22px;border:1px solid #f1c6b3;border-left:6px solid var(--accent);
background:var(--accent-soft);border-radius:8px}
.headline.none{border-color:var(--line);border-left-color:var(--bad);background:var(--soft)}
.headline .label{text-transform:uppercase;letter-spacing:.06em;font-size:12px;color:var(--accent);
font-weight:700}
.headline.none .label{color:var(--bad)}
.headline .rec-id{font-size:24px;font-weight:700;margin:2px 0 6px;overflow-wrap:anywhere}
.headline .on{font-weight:400;color:var(--muted);font-size:18px}
.headline .reason{margin:0 0 14px;max-width:980px;font-size:15px}
.headline .ranked,.headline .rec-full{margin:10px 0 0;font-size:12px;color:var(--muted)}
.headline .rec-full{margin-top:2px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:150px}
.tile .v{font-size:22px;font-weight:700;font-variant-numeric:tabular-nums}
.tile .k{font-size:12px;color:var(--muted)}
.badge{display:inline-block;font-size:10px;font-weight:700;padding:0 6px;border-radius:9px;background:#fff8c5;
color:var(--est);border:1px solid #eed888;line-height:16px}
.ok{color:#1a7f37;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px;margin-top:22px}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 8px 2px}
figure svg{width:100%;height:auto;display:block}
.pt:hover circle{stroke:#1f2328}
.legend{font-size:12px;color:var(--muted);margin:8px 0 0}
.legend.wide{grid-column:1/-1;margin:0}
.key{font-size:14px}
.key.front,.key.rec{color:var(--accent)}
.key.other{color:#8c959f}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px}
.table-wrap.flat{border:0;border-radius:0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left;white-space:nowrap;vertical-align:top}
thead th{font-weight:600;background:var(--soft);border-bottom:1px solid var(--line);white-space:normal;
vertical-align:bottom;line-height:1.25}
tbody tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.front td{font-weight:600}
tr.front td.mark{color:var(--accent)}
tr.rec td{background:var(--accent-soft)}
tr.rec td:first-child{box-shadow:inset 4px 0 0 var(--accent)}
tr.muted td{color:#8c959f}
td.bad,tr.muted td.bad{color:var(--bad)}
tr.has-notes td{border-bottom:0}
tr.note-row td{white-space:normal;font-size:12px;color:var(--muted);padding:0 9px 5px 22px;font-weight:400}
.ver{color:var(--muted);font-size:11px;font-weight:400}
td.err{white-space:normal;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.prov{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.card.span{grid-column:1/-1;padding-bottom:6px}
.gap{height:10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
ul.plain{margin:0;padding-left:18px}
ul.plain li{margin-bottom:4px}
li.est{color:var(--est)}
.small{font-size:12px;color:var(--muted);margin:8px 0 0}
ul.notes{padding-left:18px;margin:0}
ul.notes li{margin-bottom:3px}
.ids{color:var(--muted);font-size:12px}
footer{margin-top:38px;padding-top:12px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
"""
