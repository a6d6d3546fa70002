"""The HTML report: one self-contained page that works offline.

No external fonts, stylesheets, scripts or images: the CSS (``report.css``, package data) is
inlined, and so is plotly.js, once, when the page has a chart (the figures sit beside their
``<div>`` as JSON; :mod:`.plot_html`). What a reader sees first is the recommended build and why,
then the charts with the Pareto front in a strong colour, then every measurement, the provenance of
the figures, failures, jobs that never reported, and notes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from pipeline import RESULTS_SCHEMA_VERSION, __version__
from pipeline.numbers import DASH, fmt, is_number
from pipeline.record import Record
from pipeline.report.decision_view import cost_cell, roofline_cell
from pipeline.report.html.decision_sections import cost, decision, plan, roofline
from pipeline.report.html.plot_html import BOOT_JS
from pipeline.report.html.plots_common import plotly_js
from pipeline.report.html.sections import charts, e, failed, measurements, notes, provenance, unfinished
from pipeline.report.view import no_recommendation, ranking_summary, text
from pipeline.summary import RunSummary


@cache
def stylesheet() -> str:
    """The page's CSS, read once from the package."""
    return resources.files("pipeline.report.html").joinpath("report.css").read_text(encoding="utf-8")


def render_html(summary: RunSummary) -> str:
    """The report of ``summary`` as one HTML page (a string)."""
    title = f"edgeprof report · {text(summary.model.get('name'))} · {text(summary.run_id)}"
    body = [
        _header(summary),
        _headline(summary),
        decision(summary),
        charts(summary),
        measurements(summary),
        cost(summary),
        roofline(summary),
        plan(summary),
        provenance(summary),
        failed(summary),
        unfinished(summary),
        notes(summary),
        _footer(summary),
    ]
    has_plots = any('class="edgeprof-plot"' in part for part in body)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{stylesheet()}</style>",
        f'<script id="plotly-js">{plotly_js()}</script>' if has_plots else "",
        "</head>",
        "<body>",
        "<main>",
        *body,
        "</main>",
        f"<script>{BOOT_JS}</script>" if has_plots else "",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _header(summary: RunSummary) -> str:
    evalset = summary.eval_info
    bits = [f"model <b>{e(text(summary.model.get('name')))}</b>"]
    if is_number(evalset.get("samples")):
        labels = "labelled" if evalset.get("has_labels") else "unlabelled"
        bits.append(f"{e(fmt(evalset['samples']))} {labels} eval samples")
    n, d = len(summary.records), len(summary.devices)
    bits.append(f"{n} measurement{'s' if n != 1 else ''}")
    bits.append(f"{d} device{'s' if d != 1 else ''}")
    bits.append(f"run <code>{e(text(summary.run_id))}</code>")
    if summary.created_at:
        bits.append(e(summary.created_at))
    return (
        "<header><h1>Which build serves the most inferences per joule?</h1>"
        f'<p class="sub">{" · ".join(bits)}</p></header>'
    )


def _headline(summary: RunSummary) -> str:
    rec = summary.recommendation
    ranked = f'<p class="ranked">{e(ranking_summary(summary))}</p>'
    if rec is None:
        return (
            '<section class="headline none" id="recommended">'
            '<div class="label">No recommendation</div>'
            '<div class="rec-id">No build qualifies</div>'
            f'<p class="reason">{e(no_recommendation(summary))}</p>'
            f"{ranked}</section>"
        )
    record = summary.recommended
    name, where, tiles = e(rec.id), "", ""
    if record is not None:
        name = e(text(record.variant_id))
        where = (
            f' <span class="on">on</span> {e(text(record.device_id))}'
            f' <span class="on">· {e(text(record.runtime))} · batch {e(text(record.batch_size))}</span>'
        )
        tiles = _tiles(summary, record)
    return (
        '<section class="headline" id="recommended">'
        '<div class="label">Recommended build</div>'
        f'<div class="rec-id">{name}{where}</div>'
        f'<p class="reason">{e(rec.reason)}</p>'
        f"{tiles}{_plan_answer(summary)}{ranked}"
        f'<p class="rec-full">record <code>{e(rec.id)}</code></p>'
        "</section>"
    )


def _tiles(summary: RunSummary, record: Record) -> str:
    est = ' <span class="badge">est.</span>' if record.power_estimated else ""
    loss_key = "fidelity loss (pp)" if record.loss_is_fidelity else "top-1 loss (pp)"
    sla_note = ' <span class="ok">within SLA</span>' if summary.ranking.meets_sla(record.id) is True else ""
    tiles = [
        (fmt(record.inferences_per_joule), "inferences per joule" + est),
        (fmt(record.accuracy_loss, 100), e(loss_key)),
        (fmt(record.latency_ms.p99), "p99 latency (ms)" + sla_note),
        (fmt(record.throughput_ips), "throughput (inf/s)"),
        (fmt(record.power.avg_w if record.power else None), "average power (W)" + est),
        (cost_cell(record), "USD per million inferences, full load"),
        (roofline_cell(record).split(" ")[0], _roofline_key(record)),
    ]
    # A missing figure gets no tile: the reason says what is missing.
    cells = "".join(
        f'<div class="tile"><div class="v">{e(v)}</div><div class="k">{k}</div></div>' for v, k in tiles if v != DASH
    )
    return f'<div class="tiles">{cells}</div>'


def _roofline_key(record: Record) -> str:
    roof = record.roofline
    if roof is None:
        return ""
    est = ' <span class="badge">est.</span>' if roof.estimated else ""
    return f"of its roofline limit: {e(roof.bound)}-bound{est}"


def _plan_answer(summary: RunSummary) -> str:
    """The planner's answer for the stated workload, in the headline (the Planner section has the rest)."""
    plan = summary.plan
    if plan is None:
        return ""
    w = plan.workload
    return (
        f'<p class="plan-answer"><b>Planner, for {e(fmt(w.rate_per_s))} requests/s at p99 ≤ {e(fmt(w.p99_ms))} ms:</b> '
        f"{e(plan.answer)}</p>"
    )


def _footer(summary: RunSummary) -> str:
    bits = [
        f"edgeprof {e(__version__)}",
        f"run {e(text(summary.run_id))}",
        f"results schema {RESULTS_SCHEMA_VERSION}",
    ]
    if summary.created_at:
        bits.append(f"created {e(summary.created_at)}")
    bits.append("self-contained: no network needed to view")
    return f"<footer>{' · '.join(bits)}</footer>"
