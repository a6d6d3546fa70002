"""The decision layer's command-line options (ranking, cost inputs, workload) and ``edgeprof plan``.

``optimize`` and ``report`` share the option declarations below; :func:`overrides` turns what the
user gave into the fields of :class:`pipeline.request.DecisionOptions`, leaving out what was not
given, so that ``report`` changes only what its flags name and keeps the rest of the run's options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pipeline.console import make_console
from pipeline.request import DecisionOptions

OBJECTIVES = typer.Option(
    None,
    "--objectives",
    metavar="NAMES",
    help="Objectives to rank on, comma-separated: ipj (inferences per joule), throughput-at-sla, loss, cost "
    "(USD per million inferences), p99, p50, throughput, or full names. Default: ipj,throughput-at-sla,loss,cost.",
)
PICK = typer.Option(
    None,
    "--pick",
    metavar="RULE",
    help="How the recommendation is chosen: cheapest (lowest cost per million within the constraints), knee "
    "(the front's knee), first (best on the first objective), or auto: cheapest when costs are known, else knee.",
)
EXCLUDE_ESTIMATES = typer.Option(
    None,
    "--exclude-estimates/--include-estimates",
    help="Rank on measured figures only: estimated power or cost inputs count as missing.",
)
MAX_MEMORY = typer.Option(None, "--max-memory-mb", metavar="MB", help="Memory one query may need, in MB.")
ELECTRICITY = typer.Option(None, "--electricity-price", metavar="USD_PER_KWH", help="Electricity price, USD/kWh.")
PUE = typer.Option(None, "--pue", help="Power usage effectiveness (cooling overhead), >= 1.")
AMORTISATION = typer.Option(
    None, "--amortisation-months", metavar="MONTHS", help="Months over which a purchase is written off."
)
PURCHASE = typer.Option(None, "--purchase-price", metavar="USD", help="Purchase price of one device, USD.")
RENTAL = typer.Option(None, "--rental-price", metavar="USD_PER_HOUR", help="Rental price of one device, USD/h.")
PRICING = typer.Option(
    None, "--pricing", metavar="HOW", help="purchase, rental, or auto (rental for a data-centre GPU)."
)
UTILISATION = typer.Option(
    None, "--utilisation", metavar="FRACTION", help="Fraction of time the device is busy at your load, (0, 1]."
)
MONITOR_SUMMARY = typer.Option(
    None, "--monitor-summary", metavar="FILE", help='A monitor-mode summary: JSON with "utilisation" (busy fraction).'
)
RATE = typer.Option(None, "--rate", metavar="RATE", help="Request rate to plan for: 600/min, 10/s, 36000/h.")
P99 = typer.Option(None, "--p99-ms", metavar="MS", help="End-to-end p99 the plan must meet, queueing included.")
TRACE = typer.Option(
    None, "--trace", metavar="FILE", help="Recorded arrival times (s, one per line) instead of Poisson."
)
PEAK = typer.Option(None, "--peak-rate", metavar="RATE", help="Peak request rate, to show what auto-scaling saves.")
BUDGET = typer.Option(None, "--budget", metavar="USD_PER_MONTH", help="Most a configuration may cost per month.")
MAX_DELAY = typer.Option(
    None,
    "--max-delay-ms",
    metavar="MS",
    help="Batcher queueing delays to try, comma-separated (default: 0 and p99/10).",
)
TARGETS_DIR = typer.Option(
    None, "--targets-dir", metavar="DIR", help="A folder of your own target profiles (repeatable)."
)


def _floats(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"{flag} takes comma-separated numbers, for example 0,5") from None
    if not values or any(v < 0 for v in values):
        raise typer.BadParameter(f"{flag} takes numbers >= 0, for example 0,5")
    return values


#: The decision flags optimize and report share: parameter name -> DecisionOptions override name.
SHARED_FLAGS = {
    "objectives": "objectives",
    "pick": "pick",
    "exclude_estimates": "exclude_estimates",
    "max_memory_mb": "max_memory_mb",
    "electricity_price": "electricity_usd_per_kwh",
    "pue": "pue",
    "amortisation_months": "amortisation_months",
    "purchase_price": "purchase_usd",
    "rental_price": "rental_usd_per_h",
    "pricing": "pricing",
    "utilisation": "utilisation",
    "monitor_summary": "monitor_summary",
    "rate": "rate",
    "p99_ms": "p99_ms",
    "plan_targets": "plan_targets",
    "targets_dir": "targets_dirs",
}


def shared_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """:func:`overrides` of the :data:`SHARED_FLAGS` among a command's parameters (its ``locals()``)."""
    return overrides(**{name: params[flag] for flag, name in SHARED_FLAGS.items()})


def overrides(**given: Any) -> dict[str, Any]:
    """The DecisionOptions fields the user gave (None = not given), comma lists split."""
    out: dict[str, Any] = {}
    names = {"pick": "rule", "monitor_summary": "utilisation_summary", "budget": "budget_usd_per_month"}
    for key, value in given.items():
        if value is None or value == [] or value == "":
            continue
        if key == "objectives":
            value = tuple(x.strip() for x in value.split(",") if x.strip())
        elif key == "max_delay_ms":
            value = _floats(value, "--max-delay-ms")
        elif key == "plan_targets":
            value = tuple(x.strip() for x in value.split(",") if x.strip())
        elif key == "targets_dirs":  # stored with the run: absolute, for a report run from elsewhere
            value = tuple(str(Path(p).resolve()) for p in value)
        elif isinstance(value, Path):
            value = str(value.resolve())
        out[names.get(key, key)] = value
    return out


def checked(options: DecisionOptions, sla_p99_ms: float | None) -> DecisionOptions:
    """``options`` after checking every value the run will use; BadParameter naming the flag."""
    from pipeline.recommend import RULES

    try:
        options.objective_list()
        options.cost_options()
        if options.rule not in RULES:
            raise ValueError(f"--pick must be one of {', '.join(RULES)}, not {options.rule!r}")
        options.workload(sla_p99_ms)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return options


def plan_command(
    out: Path = typer.Argument(Path("edgeprof-out"), metavar="RUN_DIR", help="An output folder of optimize or demo."),
    rate: str | None = RATE,
    p99_ms: float | None = P99,
    targets: str | None = typer.Option(
        None,
        "--targets",
        metavar="IDS",
        help="Targets to plan for, comma-separated: measured devices or targets, and profiles nothing was measured "
        "on, which are projected from the roofline (flagged as projections). Default: the measured ones.",
    ),
    budget: float | None = BUDGET,
    trace: Path | None = TRACE,
    peak_rate: str | None = PEAK,
    max_delay_ms: str | None = MAX_DELAY,
    electricity_price: float | None = ELECTRICITY,
    pue: float | None = PUE,
    amortisation_months: float | None = AMORTISATION,
    purchase_price: float | None = PURCHASE,
    rental_price: float | None = RENTAL,
    pricing: str | None = PRICING,
    targets_dir: list[Path] | None = TARGETS_DIR,
    run_id: str | None = typer.Option(None, metavar="ID", help="Which run (default: the latest)."),
) -> None:
    """For a workload, the devices, batcher settings and cost of each build on each target, and the
    cheapest configuration that meets the end-to-end p99; writes plan.md and plan.json to RUN_DIR."""
    import json

    from pipeline.export import plan_document
    from pipeline.files import write_atomic
    from pipeline.report.terminal import render_plan

    if rate is None and trace is None:
        raise typer.BadParameter("give the workload: --rate 600/min (Poisson arrivals) or --trace FILE")
    given = overrides(
        rate=rate,
        p99_ms=p99_ms,
        plan_targets=targets,
        budget=budget,
        trace=trace,
        peak_rate=peak_rate,
        max_delay_ms=max_delay_ms,
        electricity_usd_per_kwh=electricity_price,
        pue=pue,
        amortisation_months=amortisation_months,
        purchase_usd=purchase_price,
        rental_usd_per_h=rental_price,
        pricing=pricing,
        targets_dirs=targets_dir,
    )
    summary = stored_summary(out, run_id, given)
    assert summary.plan is not None
    console = make_console()
    render_plan(summary, console)
    from pipeline.report.markdown import render_plan_markdown

    write_atomic(out / "plan.md", render_plan_markdown(summary))
    write_atomic(out / "plan.json", json.dumps(plan_document(summary.plan), indent=2, allow_nan=False) + "\n")
    console.print(f"\nwrote {out / 'plan.md'} and {out / 'plan.json'}", soft_wrap=True, markup=False)


def stored_summary(out: Path, run_id: str | None, given: dict[str, Any]) -> Any:
    """The run's summary from OUT/results.db with ``given`` overrides; a missing database or run exits
    with an error that says what to run first (shared by ``report`` and ``plan``)."""
    from pipeline.errors import InputError
    from pipeline.results_db import ResultsDB
    from pipeline.run_summary import summary_for_run

    db_path = out / "results.db"
    if not db_path.exists():
        typer.echo(
            f"edgeprof: error: {db_path} does not exist: run `edgeprof optimize` or `edgeprof demo` first", err=True
        )
        raise typer.Exit(1)
    db = ResultsDB(db_path)
    try:
        run = run_id or db.latest_run()
        if run is None:
            typer.echo(f"edgeprof: error: {db_path} holds no run yet", err=True)
            raise typer.Exit(1)
        try:
            return summary_for_run(db, run, overrides=given)
        except KeyError:
            typer.echo(f"edgeprof: error: no run {run!r} in {db_path}", err=True)
            raise typer.Exit(1) from None
        except InputError as exc:
            typer.echo(f"edgeprof: error: {exc}", err=True)
            raise typer.Exit(1) from None
    finally:
        db.close()
