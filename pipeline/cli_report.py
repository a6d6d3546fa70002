"""``edgeprof report``: the report of a run rebuilt from its results database."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pipeline import cli_decision as d
from pipeline.console import make_console


def report(
    out: Path = typer.Argument(
        Path("edgeprof-out"), metavar="OUT", help="An output folder written by optimize or demo."
    ),
    run_id: str | None = typer.Option(None, metavar="ID", help="Which run (default: the latest)."),
    csv: Path | None = typer.Option(
        None, "--csv", metavar="FILE", help="Also write the CSV (one row per record) here; - for stdout."
    ),
    objectives: str | None = d.OBJECTIVES,
    pick: str | None = d.PICK,
    exclude_estimates: bool | None = d.EXCLUDE_ESTIMATES,
    max_memory_mb: float | None = d.MAX_MEMORY,
    electricity_price: float | None = d.ELECTRICITY,
    pue: float | None = d.PUE,
    amortisation_months: float | None = d.AMORTISATION,
    purchase_price: float | None = d.PURCHASE,
    rental_price: float | None = d.RENTAL,
    pricing: str | None = d.PRICING,
    utilisation: float | None = d.UTILISATION,
    monitor_summary: Path | None = d.MONITOR_SUMMARY,
    rate: str | None = d.RATE,
    p99_ms: float | None = d.P99,
    plan_targets: str | None = typer.Option(
        None, metavar="IDS", help="Targets the planner sizes (see `plan --targets`)."
    ),
    targets_dir: list[Path] | None = d.TARGETS_DIR,
) -> None:
    """Rebuild report.html, report.md, results.json and results.csv from the results database, and print
    the report; flags given here replace the run's own ranking, cost and workload options."""
    from pipeline.export import write_outputs
    from pipeline.report.csv_rows import csv_text

    given = d.shared_overrides(locals())

    summary = d.stored_summary(out, run_id, given)
    write_outputs(out, summary, make_console())
    if csv is not None:
        if str(csv) == "-":
            sys.stdout.write(csv_text(summary))
        else:
            csv.write_text(csv_text(summary), encoding="utf-8")
