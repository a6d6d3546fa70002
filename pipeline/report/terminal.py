"""The terminal report: one ``rich`` table of every measurement, then the recommendation, where the
power figures come from, failed variants, jobs that never reported, and notes.

Every string from the run is shown as plain text (``rich.text.Text``), never parsed as markup:
device ids and notes come from the network. Ids and figures are never cut or folded, whatever the
console's width: the table keeps its natural width (rich would otherwise squeeze a narrow console's
columns to "…" or drop them), and lines break only at spaces. What is wider than the console is
written whole, for the terminal to wrap, rather than shortened.
"""

from __future__ import annotations

import re

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from pipeline.report.decision_view import (
    PLAN_COLUMNS,
    budget_line,
    cost_lines,
    kinds_line,
    per_target_lines,
    plan_lines,
    plan_table,
    roofline_lines,
    rule_line,
)
from pipeline.report.view import (
    COLUMNS,
    ID_COLUMNS,
    NUMERIC_COLUMNS,
    Row,
    failures,
    grouped_notes,
    legend,
    measurement_summary,
    no_recommendation,
    power_provenance,
    ranking_summary,
    rows,
    short_ids,
    text,
    unfinished_headline,
    unfinished_jobs,
)
from pipeline.summary import RunSummary

#: Shorter headers for a terminal; the units stay.
_SHORT_HEADERS = {
    "throughput": "inf/s",
    "p50": "p50 ms",
    "p99": "p99 ms",
    "power": "W",
    "top1": "top-1 %",
    "loss": "loss pp",
    "cost": "$/M inf",
    "roof": "roofline",
}


def _terminal_columns(summary: RunSummary, table_rows: list[Row]) -> list[tuple[str, str]]:
    """The HTML table's columns, minus what a terminal can do without: the variant id already names
    runtime and precision, one device goes into the title, and "valid" shows only if something is not."""
    drop = {"runtime", "precision"}
    if len({r.device_id for r in summary.records}) <= 1:
        drop.add("device")
    if all(row.valid for row in table_rows):
        drop.add("valid")
    if all(row.record.spread is None for row in table_rows):
        drop.add("spread")
    return [(key, _SHORT_HEADERS.get(key, header)) for key, header in COLUMNS if key not in drop]


_WORD = re.compile(r"\S+\s*")


def _print(console: Console, line: Text) -> None:
    """Print ``line`` broken at spaces to the console's width; a word wider than that (a long id)
    stays whole on a line of its own, never folded or cropped."""
    plain = line.plain
    column = cell_len(plain) - cell_len(plain.lstrip())
    offsets = []
    for word in _WORD.finditer(plain):
        if column and column + cell_len(word.group().rstrip()) > console.width:
            offsets.append(word.start())
            column = 0
        column += cell_len(word.group())
    for part in line.divide(offsets):
        part.rstrip()
        console.print(part, soft_wrap=True)


def _table(summary: RunSummary, table_rows: list[Row], console: Console) -> Table:
    title = Text("edgeprof · ", style="bold")
    title.append(text(summary.model.get("name")), style="bold")
    title.append(f" · run {text(summary.run_id)}", style="dim")
    devices = {r.device_id for r in summary.records}
    if len(devices) == 1:
        title.append(f" · device {text(devices.pop())}", style="dim")
    columns = _terminal_columns(summary, table_rows)
    table = Table(
        title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 0), show_edge=False
    )
    for key, header in columns:
        numeric = key in NUMERIC_COLUMNS
        widest = max([cell_len(row.cells[key]) for row in table_rows] + [cell_len(header)])
        table.add_column(
            header,
            justify="right" if numeric or key == "front" else "left",
            no_wrap=True,
            min_width=widest if key in ID_COLUMNS else None,
        )
    for row in table_rows:
        style = "bold green" if row.recommended else "bold" if row.front else "dim" if not row.valid else ""
        cells = []
        for key, _ in columns:
            cell = Text(row.cells[key])
            if key == "p99" and row.meets_sla is False:
                cell.stylize("red")
            if key == "valid" and not row.valid:
                cell.stylize("red")
            if key == "front" and row.front:
                cell.stylize("yellow")
            cells.append(cell)
        table.add_row(*cells, style=style)
    if not table_rows:
        table.add_row(*[Text("–") for _ in columns])
    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if natural > console.width:
        table.width = natural  # wider than the console: written whole, not squeezed
    return table


def _section(console: Console, title: str, lines: list[str]) -> None:
    """``title`` before the first line, the others indented under it."""
    for i, text_line in enumerate(lines):
        line = Text(title if i == 0 else " " * len(title), style="bold")
        line.append(text_line)
        _print(console, line)


def _plan_table(summary: RunSummary, console: Console) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for key, header in PLAN_COLUMNS:
        table.add_column(header, justify="left" if key in ("option", "kind", "verdict") else "right", no_wrap=True)
    for row in plan_table(summary):
        style = "bold green" if row["verdict"] == "cheapest" else "dim" if row["verdict"] == "no" else ""
        table.add_row(*[Text(row[key]) for key, _ in PLAN_COLUMNS], style=style)
    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if natural > console.width:
        table.width = natural
    return table


def render_plan(summary: RunSummary, console: Console) -> None:
    """The planner's answer and its table; nothing when the run has no workload."""
    plan = plan_lines(summary)
    if plan:
        _section(console, "Plan: ", plan)
        console.print(_plan_table(summary, console), crop=False)


def render_table(summary: RunSummary, console: Console) -> None:
    """Print the terminal report of ``summary`` to ``console``."""
    table_rows = rows(summary)
    console.print(_table(summary, table_rows, console), crop=False)
    _print(console, Text(legend(table_rows), style="dim"))
    _print(console, Text(ranking_summary(summary), style="dim"))
    console.print()

    rec = summary.recommendation
    line = Text("Recommended: ", style="bold")
    if rec:
        line.append(rec.id, style="bold green")
        line.append(" — " + rec.reason)
    else:
        line.append("none", style="bold red")
        line.append(" — " + no_recommendation(summary))
    _print(console, line)

    _print(console, Text(rule_line(summary), style="dim"))
    _print(console, Text(budget_line(summary), style="dim"))
    _print(console, Text(kinds_line(summary), style="dim"))
    _section(console, "Per target: ", per_target_lines(summary))
    _section(console, "Cost: ", cost_lines(summary))
    _section(console, "Roofline: ", roofline_lines(summary))
    render_plan(summary, console)

    for i, provenance in enumerate(power_provenance(summary)):
        line = Text("Power: " if i == 0 else "       ", style="bold")
        line.append(provenance, style="yellow" if "ESTIMATED" in provenance else "")
        _print(console, line)
    line = Text("Measured: ", style="bold")
    line.append(measurement_summary(summary))
    _print(console, line)

    failed = failures(summary)
    if failed:
        _print(console, Text(f"Failed ({len(failed)}):", style="bold red"))
        for variant, device, error in failed:
            line = Text(f"  {variant} on {device}: ", style="red")
            line.append(error)
            _print(console, line)

    headline = unfinished_headline(summary)
    if headline:
        _print(console, Text(f"Unfinished: {headline}", style="bold yellow"))
        for job in unfinished_jobs(summary):
            line = Text(f"  job {job.job_id}: {job.variant_id} on {job.device_id}, {job.state}: ", style="yellow")
            line.append(job.reason)
            _print(console, line)

    notes = grouped_notes(summary)
    if notes:
        _print(console, Text("Notes:", style="bold"))
        for note, ids in notes:
            line = Text("  " + note)
            line.append(" (" + short_ids(ids) + ")", style="dim")
            _print(console, line)
