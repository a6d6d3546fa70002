"""The terminal report: one ``rich`` table of every measurement, then the recommendation, where the
power figures come from, failed variants and notes.

Every string from the document is shown as plain text (``rich.text.Text``), never parsed as markup:
device ids and notes come from the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.report import (
    COLUMNS,
    NUMERIC_COLUMNS,
    failures,
    grouped_notes,
    legend,
    measurement_summary,
    no_recommendation,
    power_provenance,
    ranking_summary,
    recommendation,
    rows,
    short_ids,
    text,
)

#: Shorter headers for a terminal; the units stay.
_SHORT_HEADERS = {
    "throughput": "inf/s",
    "p50": "p50 ms",
    "p99": "p99 ms",
    "power": "W",
    "top1": "top-1 %",
    "loss": "loss pp",
}


def _terminal_columns(doc: Mapping[str, Any], table_rows: list[Any]) -> list[tuple[str, str]]:
    """The HTML table's columns, minus what a terminal can do without: the variant id already names
    runtime and precision, one device goes into the title, and "valid" shows only if something is not."""
    records = doc.get("variants") or []
    drop = {"runtime", "precision"}
    if len({r.get("device_id") for r in records}) <= 1:
        drop.add("device")
    if all(row.valid for row in table_rows):
        drop.add("valid")
    return [(key, _SHORT_HEADERS.get(key, header)) for key, header in COLUMNS if key not in drop]


def render_table(doc: Mapping[str, Any], console: Console) -> None:
    """Print the results document ``doc`` to ``console``."""
    model = (doc.get("model") or {}).get("name")
    title = Text("edgeprof · ", style="bold")
    title.append(text(model), style="bold")
    title.append(f" · run {text(doc.get('run_id'))}", style="dim")

    table_rows = rows(doc)
    columns = _terminal_columns(doc, table_rows)
    devices = {r.get("device_id") for r in doc.get("variants") or []}
    if len(devices) == 1:
        title.append(f" · device {text(devices.pop())}", style="dim")
    table = Table(
        title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 0), show_edge=False
    )
    for key, header in columns:
        numeric = key in NUMERIC_COLUMNS
        table.add_column(
            header,
            justify="right" if numeric or key == "front" else "left",
            no_wrap=numeric or key in ("front", "valid", "variant", "precision", "device"),
        )
    for row in table_rows:
        style = ""
        if row.recommended:
            style = "bold green"
        elif row.front:
            style = "bold"
        elif not row.valid:
            style = "dim"
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
    console.print(table)
    console.print(Text(legend(table_rows), style="dim"))
    console.print(Text(ranking_summary(doc), style="dim"))
    console.print()

    rec = recommendation(doc)
    line = Text("Recommended: ", style="bold")
    if rec:
        line.append(str(rec.get("id")), style="bold green")
        if rec.get("reason"):
            line.append(" — " + str(rec["reason"]))
    else:
        line.append("none", style="bold red")
        line.append(" — " + no_recommendation(doc))
    console.print(line)

    for i, provenance in enumerate(power_provenance(doc)):
        label = "Power: " if i == 0 else "       "
        line = Text(label, style="bold")
        line.append(provenance, style="yellow" if "ESTIMATED" in provenance else "")
        console.print(line)
    line = Text("Measured: ", style="bold")
    line.append(measurement_summary(doc))
    console.print(line)

    failed = failures(doc)
    if failed:
        console.print(Text(f"Failed ({len(failed)}):", style="bold red"))
        for variant, device, error in failed:
            line = Text(f"  {variant} on {device}: ", style="red")
            line.append(error)
            console.print(line)

    notes = grouped_notes(doc)
    if notes:
        console.print(Text("Notes:", style="bold"))
        for note, ids in notes:
            line = Text("  " + note)
            line.append(" (" + short_ids(ids) + ")", style="dim")
            console.print(line)
