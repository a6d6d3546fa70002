"""``edgeprof``: the workstation command (demo, optimize, report, targets, keygen)."""

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
        "runtimes": f"Runtimes to build for, comma-separated: {runtimes}.",
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
    iterations: int = typer.Option(
        0,
        min=0,
        metavar="N",
        help="Queries per window instead of --min-duration (like trtexec --iterations, benchmark_app -niter); "
        "a window still lasts as long as the power sensor needs. 0: by duration.",
    ),
    threads: int = typer.Option(
        0, min=0, metavar="N", help="CPU threads for the runtime (ONNX Runtime intra-op, OpenVINO). 0: all usable CPUs."
    ),
    concurrency: str = typer.Option(
        "1",
        metavar="LEVELS",
        help="Queries in flight, comma-separated, swept at each batch size (OpenVINO async requests, ONNX Runtime "
        "concurrent runs); the sweep stops once p99 is over twice --sla-p99-ms.",
    ),
    profile_layers: bool = typer.Option(
        False, "--profile-layers", help="Profile each window's operators (a separate pass) and report the top ones."
    ),
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
) -> None:
    """Build variants of MODEL, measure them on the target devices, and write a ranked report."""
    from pipeline.request import RunRequest

    _run(
        RunRequest(
            model=model,
            out=out,
            calib=calib,
            eval=eval,
            broker=broker,
            targets=tuple(_csv(targets) or ["local"]),
            batch_sizes=tuple(_csv_ints(batch, "--batch")),
            precisions=tuple(_csv(precisions)),
            runtimes=tuple(_csv(runtimes)),
            prune=tuple(_csv(prune) or ["none"]),
            metric=metric,
            sla_p99_ms=sla_p99_ms,
            max_accuracy_loss=max_accuracy_loss,
            min_duration_s=min_duration,
            warmup_s=warmup,
            iterations=iterations,
            threads=threads,
            concurrency=tuple(_csv_ints(concurrency, "--concurrency")),
            profile_layers=profile_layers,
            job_key_file=job_key_file,
            serve_host=serve_host,
            advertise_host=advertise_host,
            power=power.value if power is not None else None,
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
) -> None:
    """Rebuild report.html and results.json from the results database, and print the table."""
    from pipeline.export import write_outputs
    from pipeline.results_db import ResultsDB
    from pipeline.run_summary import summary_for_run

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
            summary = summary_for_run(db, run)
        except KeyError:
            typer.echo(f"edgeprof: error: no run {run!r} in {db_path}", err=True)
            raise typer.Exit(1) from None
        write_outputs(out, summary, make_console())
    finally:
        db.close()


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
