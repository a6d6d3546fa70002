"""``edgeprof``: the workstation command (demo, optimize, report, plan, targets, fleet, monitor-summary, keygen)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer

from agent.readable_cli import ReadableTyper
from pipeline import __version__
from pipeline import cli_decision as d
from pipeline.cli_monitor import monitor_summary
from pipeline.cli_optimize import demo, optimize
from pipeline.cli_report import report
from pipeline.cli_state import state

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


def _targets_app() -> typer.Typer | None:
    try:
        from pipeline.cli_targets import app as targets_app
    except ImportError:  # pragma: no cover - the targets catalogue ships with the package
        return None
    return targets_app


_t = _targets_app()
if _t is not None:
    app.add_typer(_t, name="targets", help="List and show device profiles (targets/).")

from pipeline.cli_fleet import app as _fleet_app  # noqa: E402 - after the app it is mounted on

app.add_typer(_fleet_app, name="fleet", help="Enrol devices and list the fleet the broker knows.")


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
    state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if sys.version_info < (3, 10):  # noqa: UP036 - the package installs on 3.8 for the agent
        typer.echo("edgeprof: the host side needs Python 3.10 or newer (the agent runs on 3.8+)", err=True)
        raise typer.Exit(2)


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


app.command()(optimize)
app.command()(demo)
app.command()(report)
app.command(name="plan")(d.plan_command)
app.command(name="monitor-summary")(monitor_summary)


@app.command()
def keygen(
    path: Path = typer.Argument(
        Path.home() / ".config" / "edgeprof" / "host.key", metavar="PATH", help="Where to write the private key."
    ),
) -> None:
    """Create the host's key pair: PATH signs jobs and acks, PATH.pub goes to each device (`edgeprof-agent enrol`)."""
    from agent.errors import ProtocolError
    from agent.signing import create_private_key, public_key_path

    try:
        key = create_private_key(path)
    except ProtocolError as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    pub = public_key_path(path)
    typer.echo(f"wrote {path} (mode 600) and {pub}, fingerprint {key.public.fingerprint}")
    typer.echo(f"on each device: edgeprof-agent enrol --host-key {pub.name} (after copying {pub} there)")


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
