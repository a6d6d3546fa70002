"""The HTML page's sections below the headline: charts (plotly), the measurements table, provenance cards,
failures, jobs that never reported, and notes.

Each function returns one ``<section>`` (or "" when it has nothing to say). Every string from the
run goes through :func:`e` (device ids and notes come from the network).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.numbers import DASH, fmt
from pipeline.report.html.plot_html import plot_html
from pipeline.report.html.plots_front import front_scatter
from pipeline.report.html.plots_measured import latency_plot, power_plot
from pipeline.report.view import (
    COLUMNS,
    NUMERIC_COLUMNS,
    failures,
    grouped_notes,
    legend,
    measurement_summary,
    power_provenance,
    rows,
    short_ids,
    text,
    throughput_at_sla_lines,
    top_operators_line,
    unfinished_headline,
    unfinished_jobs,
    validity_line,
)
from pipeline.summary import RunSummary


def e(value: Any) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------------------
# Charts


def charts(summary: RunSummary) -> str:
    """The front scatter (the reader picks both figures), then each build's latency and power."""
    front = plot_html(front_scatter(summary))
    if not front:
        return ""
    return (
        '<section class="charts" id="charts"><h2>The builds on the figures that decide</h2>'
        f"{front}"
        f'<div class="chart-pair">{plot_html(latency_plot(summary))}{plot_html(power_plot(summary))}</div>'
        "</section>"
    )


# ---------------------------------------------------------------------------------------------------
# Table


def measurements(summary: RunSummary) -> str:
    """Every measurement, front first; a record's notes on a row of their own below it."""
    table_rows = rows(summary)
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
            if (key == "p99" and row.meets_sla is False) or (key == "valid" and not row.valid):
                cls.append("bad")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            if key == "runtime":
                version = row.record.runtime_version
                ver = f' <span class="ver">{e(version)}</span>' if version else ""
                cells.append(f"<td{attr}>{e(text(row.record.runtime))}{ver}</td>")
            else:
                cells.append(f"<td{attr}>{e(row.cells[key])}</td>")
        if row.notes:
            classes.append("has-notes")
        attr = f' class="{" ".join(classes)}"' if classes else ""
        body.append(f'<tr{attr} title="{e(row.record.id)}">{"".join(cells)}</tr>')
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


def _table(headers: Sequence[str], body_rows: Sequence[Sequence[str]], empty: str, cls: str = "table-wrap") -> str:
    """A plain table of text cells (escaped here), with one full-width row saying ``empty`` if none."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in body_rows)
    body = body or f'<tr><td colspan="{len(headers)}">{e(empty)}</td></tr>'
    return f'<div class="{cls}"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


# ---------------------------------------------------------------------------------------------------
# Provenance, failures, unfinished jobs, notes


def _dl(items: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def provenance(summary: RunSummary) -> str:
    """Where the power figures come from, the model and evaluation set, and the devices."""
    power_lines = "".join(
        f'<li class="{"est" if "ESTIMATED" in line else ""}">{e(line)}</li>' for line in power_provenance(summary)
    )
    power = (
        '<div class="card"><h3>Power</h3>'
        f'<ul class="plain">{power_lines}</ul>'
        f'<p class="small">{e(measurement_summary(summary))}</p></div>'
    )
    model = summary.model
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
            "FLOPs per inference",
            e(fmt(model.get("flops_per_inference")))
            + ' <span class="ver">static graph count: 2 per multiply-add, element-wise ops at a stated cost</span>',
        ),
    ]
    has_labels = summary.eval_info.get("has_labels")
    labels = (
        "yes: loss is top-1 against labels"
        if has_labels
        else "no: loss is fidelity to FP32 (1 − top-1 agreement)"
        if has_labels is False
        else DASH
    )
    eval_items = [
        ("source", f"<code>{e(text(summary.eval_info.get('source')))}</code>"),
        ("samples", e(fmt(summary.eval_info.get("samples")))),
        ("labels", e(labels)),
    ]
    data = (
        '<div class="card"><h3>Model and evaluation set</h3>'
        + _dl(model_items)
        + '<div class="gap"></div>'
        + _dl(eval_items)
        + "</div>"
    )
    device_rows = [
        (
            text(d.device_id),
            text(d.target),
            text(d.hostname),
            ", ".join(f"{k} {v}" for k, v in d.runtimes.items()) or DASH,
            ", ".join(d.power_sources) or DASH,
        )
        for d in summary.devices.values()
    ]
    devices = (
        '<div class="card span"><h3>Devices</h3>'
        + _table(
            ("device", "target", "hostname", "runtimes", "power sources"), device_rows, "none listed", "table-wrap flat"
        )
        + "</div>"
    )
    return (
        f'<section id="provenance"><h2>Provenance</h2><div class="prov">{power}{data}{devices}'
        f"{trust_card(summary)}</div></section>"
    )


def trust_card(summary: RunSummary) -> str:
    """Per measurement: what its validity rests on, its top operators, input shapes; and each
    variant's throughput at the latency target."""
    detail_rows = [
        (
            text(r.id),
            validity_line(r),
            ", ".join(f"{k} {'×'.join(str(d) for d in v)}" for k, v in r.input_shapes.items()) or DASH,
            top_operators_line(r) or DASH,
        )
        for r in summary.records
    ]
    sla = throughput_at_sla_lines(summary)
    sla_html = '<p class="small">Throughput at the latency target: ' + e("; ".join(sla)) + ".</p>" if sla else ""
    return (
        '<div class="card span"><h3>Measurement validity and profile</h3>'
        + sla_html
        + _table(
            ("measurement", "what its figures rest on", "input shapes", "top operators (share, time per query)"),
            detail_rows,
            "no measurements",
            "table-wrap flat",
        )
        + "</div>"
    )


def failed(summary: RunSummary) -> str:
    failed_rows = failures(summary)
    if not failed_rows:
        return ""
    body = "".join(f'<tr><td>{e(v)}</td><td>{e(d)}</td><td class="err">{e(err)}</td></tr>' for v, d, err in failed_rows)
    return (
        f'<section id="failed"><h2>Failed variants ({len(failed_rows)})</h2>'
        '<div class="table-wrap"><table><thead><tr><th>variant</th><th>device</th><th>error</th></tr></thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def unfinished(summary: RunSummary) -> str:
    """The jobs issued for this run that never reported, one row each."""
    headline = unfinished_headline(summary)
    if headline is None:
        return ""
    jobs = [(u.job_id, u.variant_id, u.device_id, u.state, u.reason) for u in unfinished_jobs(summary)]
    return (
        f'<section id="unfinished"><h2>Jobs that never reported ({len(jobs)})</h2>'
        f'<p class="warn">{e(headline)}.</p>'
        + _table(("job", "variant", "device", "state", "reason"), jobs, "")
        + "</section>"
    )


def notes(summary: RunSummary) -> str:
    grouped = grouped_notes(summary)
    if not grouped:
        return ""
    items = "".join(
        f'<li>{e(note)} <span class="ids" title="{e(", ".join(ids))}">({e(short_ids(ids))})</span></li>'
        for note, ids in grouped
    )
    return f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'
