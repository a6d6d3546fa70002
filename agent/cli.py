"""``edgeprof-agent``: the on-device command (run the service; later install, doctor)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from agent import __version__
from agent.errors import AgentError

app = typer.Typer(
    help="edgeprof's on-device agent: receives signed benchmark jobs over MQTT, measures latency, "
    "throughput, power and accuracy on this device, and reports results that survive restarts.",
    add_completion=False,
    no_args_is_help=True,
)


@app.command()
def run(
    broker: str = typer.Option(
        "mqtt://127.0.0.1:1883", help="MQTT broker URL: mqtt://[user:pass@]host[:port] or mqtts://..."
    ),
    device_id: str = typer.Option(None, help="This device's id in topics and results (default: local-<hostname>)."),
    state_dir: Path = typer.Option(
        Path.home() / ".local" / "state" / "edgeprof-agent",
        help="Where the agent keeps its outbox, queued jobs and artifact cache (survives reboots).",
    ),
    job_key_file: Optional[Path] = typer.Option(
        None, help="Hex key shared with the host; jobs not signed with it are refused."
    ),
    insecure_accept_unsigned: bool = typer.Option(
        False,
        "--insecure-accept-unsigned",
        help="Run jobs without checking signatures. Only for a broker nobody else can publish to.",
    ),
    power: Optional[str] = typer.Option(
        None, help="Power source to use (ina3221, jtop, nvml, rapl, estimate) (default: best found)."
    ),
    target: str = typer.Option("", help="Target profile id this device matches (default: detected)."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
    resend_interval: float = typer.Option(
        10.0, help="Seconds between resends of results the host has not acknowledged yet."
    ),
    cancel_queued: bool = typer.Option(
        False,
        "--cancel-queued",
        help="Report jobs still queued from before this start as cancelled instead of running them "
        "(for an agent that serves one run at a time).",
    ),
    exit_with_parent: bool = typer.Option(
        False, hidden=True, help="Stop when the process that started this one dies (used by `edgeprof demo`)."
    ),
) -> None:
    """Serve benchmark jobs until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    from agent.protocol import local_device_id
    from agent.service import AgentService
    from agent.signing import load_key

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s agent %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        if job_key_file is None and not insecure_accept_unsigned:
            raise AgentError("no --job-key-file given: pass the host's key file, or --insecure-accept-unsigned")
        key = load_key(job_key_file) if job_key_file is not None else None
        if power is not None:
            _check_power_name(power)
        if not target:
            target = _detect_target()
        service = AgentService(
            broker,
            device_id or local_device_id(),
            state_dir,
            key,
            power=power,
            target=target,
            resend_interval_s=resend_interval,
            cancel_queued=cancel_queued,
        )
    except AgentError as exc:
        typer.echo("edgeprof-agent: %s" % exc, err=True)
        raise typer.Exit(2) from None
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    if exit_with_parent:
        from agent.parent_watch import on_parent_exit

        on_parent_exit(service.stop)
    service.run()


def _check_power_name(name: str) -> None:
    from agent.power import SENSORS

    if name not in SENSORS:
        raise AgentError("--power %r is not a power source this agent knows: %s" % (name, ", ".join(sorted(SENSORS))))


def _detect_target() -> str:
    try:
        from agent.device_match import match_device

        return match_device().profile_id or ""
    except Exception:  # detection is a convenience; the profile can be given with --target
        return ""


@app.command()
def doctor(
    sysfs_root: Path = typer.Option(Path("/sys"), hidden=True, help="Root of the sysfs tree (for tests)."),
    proc_root: Path = typer.Option(Path("/proc"), hidden=True, help="Root of the procfs tree (for tests)."),
) -> None:
    """Say which device profile this machine matches and why, which runtimes and power sources work."""
    from agent.device_match import match_device
    from agent.power import probe
    from agent.runtimes import installed_runtimes

    match = match_device(sysfs_root=sysfs_root, proc_root=proc_root)
    for line in match.describe():
        typer.echo(line)
    runtimes = installed_runtimes()
    typer.echo("runtimes: " + (", ".join("%s %s" % kv for kv in sorted(runtimes.items())) or "none found"))
    typer.echo("power sources:")
    for name, problem in probe(sysfs_root=sysfs_root, proc_root=proc_root).items():
        typer.echo("  %-9s %s" % (name, "works" if problem is None else "no: %s" % problem))


@app.command()
def version() -> None:
    """Print the agent's version and the runtimes it finds."""
    from agent.runtimes import installed_runtimes

    typer.echo("edgeprof-agent %s (protocol %d)" % (__version__, _protocol_version()))
    for name, ver in sorted(installed_runtimes().items()):
        typer.echo("  %s %s" % (name, ver))


def _protocol_version() -> int:
    from agent.protocol import PROTOCOL_VERSION

    return PROTOCOL_VERSION


def main() -> None:
    app()


if __name__ == "__main__":
    main()
