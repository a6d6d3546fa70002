"""``edgeprof``: the workstation command (demo, optimize, report, plan, targets, keygen)."""

from __future__ import annotations

import enum
import logging
import sys
from pathlib import Path
from typing import Any

import typer

from agent.power import SENSORS
from agent.readable_cli import ReadableTyper
from pipeline import __version__
from pipeline import cli_decision as d
from pipeline.console import make_console
from pipeline.request import DEFAULT_PRECISIONS, DEFAULT_RUNTIMES

app = ReadableTyper(
    error_prefix="edgeprof",
    help=(
        "edgeprof measures which build of your model (precision x runtime x batch size), on which device, "
        "serves the most inferences per joule within your accuracy and latency budget. It builds the "
        "variants here, has edgeprof agents measure them on the devices over MQTT, and ranks what they "
        "measured on a Pareto front."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


def _targets_app() -> typer.Typer | None:
    try:
        from pipeline.cli_targets import app as targets_app
    except ImportError:  # pragma: no cover - the targets catalogue ships with the package
        return None
    return targets_app


_t = _targets_app()
if _t is not None:
    app.add_typer(_t, name="targets", help="List and show device profiles (targets/).")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"edgeprof {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if sys.version_info < (3, 10):  # noqa: UP036 - the package installs on 3.8 for the agent
        typer.echo("edgeprof: the host side needs Python 3.10 or newer (the agent runs on 3.8+)", err=True)
        raise typer.Exit(2)


def _csv_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{flag} takes comma-separated integers, for example 1,8") from None
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(f"{flag} takes positive integers, for example 1,8")
    return values


def _from_spec(ctx: typer.Context, path: Path) -> dict[str, Any]:
    """The spec file's values for the options the command line left at their defaults."""
    from pipeline.errors import InputError
    from pipeline.spec_file import load_spec

    try:
        values = load_spec(path)
    except InputError as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    return {k: v for k, v in values.items() if ctx.get_parameter_source(k).name == "DEFAULT"}


def _shapes(texts: list[str]) -> dict[str, tuple[int, ...]]:
    from pipeline.errors import InputError
    from pipeline.inputs import parse_shape

    try:
        return dict(parse_shape(t) for t in texts)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _run(request: object) -> None:
    from agent.errors import AgentError
    from pipeline.errors import PipelineError
    from pipeline.main_job import RunInterrupted, run_main_job

    console = make_console()
    try:
        run_main_job(request, console)  # type: ignore[arg-type]
    except (PipelineError, AgentError) as exc:
        if _state["debug"]:
            raise
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        if isinstance(exc, RunInterrupted):
            out = exc.out
            typer.echo(
                f"edgeprof: interrupted; the results that arrived are kept in {out / 'results.db'}, and "
                f"{out / 'report.html'} names the jobs that did not report; `edgeprof report {out}` rebuilds "
                "it once their devices have sent them",
                err=True,
            )
        else:
            typer.echo("edgeprof: interrupted before any job was sent to a device: nothing was measured", err=True)
        raise typer.Exit(130) from None


#: The local agent's power sources, from the agent's own registry: a sensor added there is offered here.
PowerSource = enum.Enum("PowerSource", {name: name for name in SENSORS}, type=str)

_BROKER_HELP = "MQTT broker URL (mqtt://host:port, mqtts://…). Default: start an embedded broker on 127.0.0.1."
_TARGETS_HELP = "Devices to measure on: 'local' (an agent started here) and/or device ids of running agents."


def _catalog_help() -> dict[str, str]:
    """Help of --precisions and --runtimes, derived from what passes and runtimes declare (read when
    the command line is built, so a pass or runtime registered by a plug-in shows up)."""
    from pipeline.plan import Catalog

    catalog = Catalog.registered()
    runtimes = "; ".join(f"{name}: {cls.summary}" if cls.summary else name for name, cls in catalog.runtimes.items())
    return {
        "precisions": f"Precisions to build, comma-separated: {', '.join(catalog.precisions())}.",
        "prune": "Pruning axis, comma-separated: none, "
        + ", ".join(
            f"{name}=AMOUNT ({cls.summary})" if cls.prune_amount else f"{name} ({cls.summary})"
            for name, cls in catalog.prune_passes().items()
        )
        + "; each is built at every precision.",
        "runtimes": f"Runtimes to build for, comma-separated, or auto (every one installed here): {runtimes}.",
    }


def make_app() -> Any:
    """The ``edgeprof`` command line, with the help texts that depend on the registries filled in."""
    command = typer.main.get_command(app)
    helps = _catalog_help()
    optimize_cmd = command.commands["optimize"]  # type: ignore[attr-defined]
    for param in optimize_cmd.params:
        if param.name in helps:
            param.help = helps[param.name]
    return command


@app.command()
def optimize(
    ctx: typer.Context,
    model: Path = typer.Argument(
        ..., metavar="MODEL", help="The ONNX model to optimise (a classifier: outputs are logits)."
    ),
    calib: Path | None = typer.Option(
        None, help="Calibration data for INT8: .npz with one array per model input (or .npy for one input)."
    ),
    eval: Path | None = typer.Option(  # noqa: A002 - the flag is --eval
        None,
        help="Evaluation data: .npz with arrays named by the model's inputs and an optional 'labels' array.",
    ),
    out: Path = typer.Option(Path("edgeprof-out"), help="Output folder: report.html, results.json, results.db."),
    broker: str | None = typer.Option(None, metavar="URL", help=_BROKER_HELP),
    targets: str = typer.Option("local", metavar="IDS", help=_TARGETS_HELP),
    batch: str = typer.Option("1,8", metavar="SIZES", help="Batch sizes to sweep, comma-separated."),
    precisions: str = typer.Option(
        ",".join(DEFAULT_PRECISIONS), metavar="NAMES", help="Precisions to build, comma-separated."
    ),
    runtimes: str = typer.Option(
        ",".join(DEFAULT_RUNTIMES), metavar="NAMES", help="Runtimes to build for, comma-separated."
    ),
    prune: str = typer.Option(
        "none",
        metavar="PRUNINGS",
        help="Pruning axis, comma-separated: none, channels=RATIO (structured: fewer FLOPs), magnitude=SPARSITY "
        "(unstructured zeros), 2to4 (2:4, what TensorRT's sparse kernels use); each is built at every precision.",
    ),
    search: str = typer.Option(
        "default",
        metavar="HOW",
        help="default: each pass's and runtime's default settings; wide: also the settings they declare worth "
        "trying (calibration methods, per-tensor, op types, NNCF presets, threads, performance hints), each "
        "measured as its own variant.",
    ),
    shape: list[str] = typer.Option(
        [],
        metavar="NAME=DIMS",
        help="Size of an input's dynamic axes other than batch, batch first (e.g. input_ids=1x128); repeat per input.",
    ),
    spec: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="A TOML file with these options under the same names (runtimes, precisions, prune, batch, search, "
        "...); options on the command line win over it.",
    ),
    build_jobs: int | None = typer.Option(
        None, metavar="N", min=1, help="Variants built at once, each in its own process (default: one per CPU)."
    ),
    metric: str = typer.Option(
        "auto",
        metavar="NAME",
        help="What accuracy loss measures: top1 (against the labels), agreement (top-1 agreement with the FP32 "
        "outputs), cosine (to the FP32 outputs; for embeddings), or auto: top1 with labels, else cosine for "
        "unit-norm outputs, else agreement.",
    ),
    sla_p99_ms: float | None = typer.Option(
        None, help="Latency budget: p99 per query in ms; slower builds are off the front."
    ),
    max_accuracy_loss: float | None = typer.Option(
        None, help="Accuracy budget: largest absolute top-1 loss against FP32 (0.01 = 1 percentage point)."
    ),
    min_duration: float = typer.Option(2.0, help="Seconds each timed window lasts at least (after warm-up)."),
    warmup: float = typer.Option(0.5, help="Seconds of untimed warm-up before each window."),
    job_key_file: Path | None = typer.Option(
        None,
        help="Key shared with the agents to sign jobs (default: ~/.config/edgeprof/job.key, created if absent).",
    ),
    serve_host: str = typer.Option("127.0.0.1", help="Address the artifact server binds (0.0.0.0 for remote devices)."),
    advertise_host: str | None = typer.Option(None, help="Host name devices use to reach the artifact server."),
    power: PowerSource | None = typer.Option(
        None,
        metavar="NAME",
        help=f"Power source for the local agent: {', '.join(SENSORS)} (default: the best one found).",
    ),
    ort_providers: str = typer.Option(
        "cpu",
        metavar="NAMES",
        help="ONNX Runtime execution providers, comma-separated: cpu, cuda, tensorrt (TensorRT first, then CUDA); "
        "each is built at every precision and named in the variant id (ort-cuda-fp16).",
    ),
    power_modes: str = typer.Option(
        "",
        metavar="MODES",
        help="Jetson power modes to measure in, comma-separated, as the target profiles name them (MAXN, 15W, ...); "
        "'current' also measures every device as it is. The agent switches (nvpmodel), lets the clocks settle and "
        "restores the previous mode.",
    ),
    fixed_clocks: bool = typer.Option(
        False, "--fixed-clocks", help="With --power-modes: pin the clocks at each mode's maximum (jetson_clocks)."
    ),
    trt_dla_core: int | None = typer.Option(
        None, min=0, metavar="N", help="TensorRT: build for DLA core N (Jetson Xavier/Orin), GPU fallback on."
    ),
    trt_workspace_mib: int | None = typer.Option(
        None, min=1, metavar="MIB", help="TensorRT: the builder's workspace limit in MiB (default TensorRT's)."
    ),
    trt_cuda_graph: bool = typer.Option(
        False, "--trt-cuda-graph", help="TensorRT: replay each query as a CUDA graph (trtexec --useCudaGraph)."
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
    """Build variants of MODEL, measure them on the target devices, and write a ranked report."""
    from pipeline.request import DecisionOptions, RunRequest

    decision = DecisionOptions.from_json(
        d.overrides(
            objectives=objectives, pick=pick, exclude_estimates=exclude_estimates, max_memory_mb=max_memory_mb,
            electricity_usd_per_kwh=electricity_price, pue=pue, amortisation_months=amortisation_months,
            purchase_usd=purchase_price, rental_usd_per_h=rental_price, pricing=pricing, utilisation=utilisation,
            monitor_summary=monitor_summary, rate=rate, p99_ms=p99_ms, plan_targets=plan_targets,
            targets_dirs=targets_dir,
        )
    )  # fmt: skip

    o = dict(
        calib=calib, eval=eval, out=out, targets=targets, batch=batch, precisions=precisions, runtimes=runtimes,
        prune=prune, search=search, metric=metric, build_jobs=build_jobs, sla_p99_ms=sla_p99_ms,
        max_accuracy_loss=max_accuracy_loss, min_duration=min_duration, warmup=warmup, shape=shape,
    )  # fmt: skip
    if spec is not None:
        o.update(_from_spec(ctx, spec))
    trt_recipe = {"dla_core": trt_dla_core, "workspace_mib": trt_workspace_mib}
    trt_recipe = {k: v for k, v in trt_recipe.items() if v is not None}
    _run(
        RunRequest(
            model=model,
            out=o["out"],
            calib=o["calib"],
            eval=o["eval"],
            broker=broker,
            targets=tuple(_csv(o["targets"]) or ["local"]),
            batch_sizes=tuple(_csv_ints(o["batch"], "--batch")),
            precisions=tuple(_csv(o["precisions"])),
            runtimes=tuple(_csv(o["runtimes"])),
            prune=tuple(_csv(o["prune"]) or ["none"]),
            search=o["search"],
            build_jobs=o["build_jobs"],
            shapes=_shapes(o["shape"]),
            metric=o["metric"],
            sla_p99_ms=o["sla_p99_ms"],
            max_accuracy_loss=o["max_accuracy_loss"],
            min_duration_s=o["min_duration"],
            warmup_s=o["warmup"],
            job_key_file=job_key_file,
            serve_host=serve_host,
            advertise_host=advertise_host,
            power=power.value if power is not None else None,
            ort_providers=tuple(_csv(ort_providers) or ["cpu"]),
            power_modes=tuple(_csv(power_modes)),
            fixed_clocks=fixed_clocks,
            pass_options={"trt_recipe": trt_recipe} if trt_recipe else {},
            runtime_options={"tensorrt": {"use_cuda_graph": True}} if trt_cuda_graph else {},
            decision=d.checked(decision, o["sla_p99_ms"]),
        )
    )


@app.command()
def demo(
    out: Path = typer.Option(Path("edgeprof-out"), help="Output folder for report.html, results.json, results.db."),
    broker: str | None = typer.Option(None, help=_BROKER_HELP),
    min_duration: float = typer.Option(2.0, help="Seconds each timed window lasts at least."),
) -> None:
    """Run the whole flow on the bundled digits CNN: embedded broker, local agent, FP32/INT8/FP16 builds."""
    from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH
    from pipeline.request import RunRequest

    _run(
        RunRequest(
            model=DEMO_MODEL_PATH,
            out=out,
            calib=DEMO_CALIB_PATH,
            eval=DEMO_EVAL_PATH,
            broker=broker,
            min_duration_s=min_duration,
            job_key_file=out / "job.key",
        )
    )


@app.command()
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
    from pipeline.errors import InputError
    from pipeline.export import write_outputs
    from pipeline.report.csv_rows import csv_text
    from pipeline.results_db import ResultsDB
    from pipeline.run_summary import summary_for_run

    given = d.overrides(
        objectives=objectives, pick=pick, exclude_estimates=exclude_estimates, max_memory_mb=max_memory_mb,
        electricity_usd_per_kwh=electricity_price, pue=pue, amortisation_months=amortisation_months,
        purchase_usd=purchase_price, rental_usd_per_h=rental_price, pricing=pricing, utilisation=utilisation,
        monitor_summary=monitor_summary, rate=rate, p99_ms=p99_ms, plan_targets=plan_targets, targets_dirs=targets_dir,
    )  # fmt: skip

    db_path = out / "results.db"
    if not db_path.exists():
        typer.echo(
            f"edgeprof: error: {db_path} does not exist: run `edgeprof optimize` or `edgeprof demo` first",
            err=True,
        )
        raise typer.Exit(1)
    db = ResultsDB(db_path)
    try:
        run = run_id or db.latest_run()
        if run is None:
            typer.echo(f"edgeprof: error: {db_path} holds no run yet", err=True)
            raise typer.Exit(1)
        try:
            summary = summary_for_run(db, run, overrides=given)
        except KeyError:
            typer.echo(f"edgeprof: error: no run {run!r} in {db_path}", err=True)
            raise typer.Exit(1) from None
        except InputError as exc:
            typer.echo(f"edgeprof: error: {exc}", err=True)
            raise typer.Exit(1) from None
        write_outputs(out, summary, make_console())
        if csv is not None:
            if str(csv) == "-":
                sys.stdout.write(csv_text(summary))
            else:
                csv.write_text(csv_text(summary), encoding="utf-8")
    finally:
        db.close()


app.command(name="plan")(d.plan_command)


@app.command()
def keygen(
    path: Path = typer.Argument(
        Path.home() / ".config" / "edgeprof" / "job.key", metavar="PATH", help="Where to write the key."
    ),
    force: bool = typer.Option(
        False, "--force", help="Overwrite an existing key (agents holding the old one will refuse jobs)."
    ),
) -> None:
    """Create the key that signs jobs; copy it to each device and pass it to `edgeprof-agent run --job-key-file`."""
    from agent.signing import create_key

    if path.exists() and not force:
        typer.echo(f"edgeprof: error: {path} exists; use --force to replace it", err=True)
        raise typer.Exit(1)
    create_key(path)
    typer.echo(f"wrote {path} (mode 600)")


def main() -> None:
    try:
        make_app()()
    except ModuleNotFoundError as exc:
        if "--debug" in sys.argv:
            raise
        typer.echo(
            f"edgeprof: {exc.name or exc} is not installed: the host side needs its extra: "
            "pip install 'edgeprof[pipeline]'",
            err=True,
        )
        sys.exit(1)
    except Exception as exc:  # last line of defence: one line unless --debug
        if "--debug" in sys.argv:
            raise
        typer.echo(f"edgeprof: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
