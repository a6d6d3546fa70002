"""``edgeprof-agent``: the on-device command (run the service, keygen, enrol, monitor, doctor, version)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from agent import __version__
from agent.cli_doctor import detect_target, doctor
from agent.cli_install import install
from agent.cli_keys import enrol, keygen
from agent.cli_monitor import monitor
from agent.cli_options import (
    DEFAULT_CACHE_MAX_BYTES,
    DEFAULT_LOG_BACKUPS,
    DEFAULT_LOG_MAX_BYTES,
    DEVICE_KEY_NAME,
    HOST_KEY_NAME,
    TARGETS_DIR_HELP,
    broker_ca_option,
    broker_cert_option,
    broker_credentials_option,
    broker_key_option,
    broker_option,
    device_id_option,
    device_key_option,
    state_dir_option,
)
from agent.errors import AgentError
from agent.power import SENSORS
from agent.readable_cli import ReadableTyper

app = ReadableTyper(
    error_prefix="edgeprof-agent",
    help="edgeprof's on-device agent: receives signed benchmark jobs over MQTT, measures latency, "
    "throughput, power and accuracy on this device, and reports results that survive restarts.",
    add_completion=False,
    no_args_is_help=True,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


def _version_line() -> str:
    return "edgeprof-agent %s (protocol %d)" % (__version__, _protocol_version())


@app.callback()
def _main(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the agent's version and protocol version, and exit.",
    ),
) -> None:
    pass


@app.command()
def run(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None,
        metavar="FILE",
        help="JSON file of these options (keys: the option names with _ for -, as `install` writes it); "
        "an option given here wins over the file.",
    ),
    broker: str = broker_option("mqtt://127.0.0.1:1883"),
    device_id: str = device_id_option(),
    state_dir: Path = state_dir_option(),
    device_key: Optional[Path] = device_key_option(),
    host_key: Optional[Path] = typer.Option(
        None,
        metavar="PATH",
        help="The host's public key: only jobs and acks it signed are accepted (default: DIR/host.pub; see `enrol`).",
    ),
    create_key: bool = typer.Option(
        False, "--create-key", help="Create the device key if it does not exist (never replaces one)."
    ),
    job_key_file: Optional[Path] = typer.Option(None, hidden=True, help="edgeprof 0.1's shared key: refused."),
    insecure_accept_unsigned: bool = typer.Option(
        False,
        "--insecure-accept-unsigned",
        help="Run jobs without checking the host's signature. Only for a broker nobody else can publish to.",
    ),
    broker_credentials: Optional[Path] = broker_credentials_option(),
    broker_ca: Optional[Path] = broker_ca_option(),
    broker_cert: Optional[Path] = broker_cert_option(),
    broker_key: Optional[Path] = broker_key_option(),
    power: Optional[str] = typer.Option(
        None,
        metavar="NAME",
        help="Power source to use: %s (default: the best one found)." % ", ".join(SENSORS),
    ),
    target: str = typer.Option(
        "", metavar="ID", help="Target profile id this device matches (default: detected; see `doctor`)."
    ),
    targets_dir: Optional[List[Path]] = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", metavar="DIR", help=TARGETS_DIR_HELP
    ),
    log_level: str = typer.Option("INFO", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR."),
    log_file: Optional[Path] = typer.Option(
        None, metavar="PATH", help="JSON-lines log file, rotated by size (default: DIR/logs/agent.jsonl)."
    ),
    log_max_bytes: int = typer.Option(
        DEFAULT_LOG_MAX_BYTES, metavar="BYTES", help="Size at which the log file is rotated (10 MiB)."
    ),
    log_backups: int = typer.Option(
        DEFAULT_LOG_BACKUPS, metavar="N", help="Rotated log files kept: the logs take at most BYTES * (N + 1)."
    ),
    cache_max_bytes: int = typer.Option(
        DEFAULT_CACHE_MAX_BYTES,
        metavar="BYTES",
        help="Size bound of the artifact cache (2 GiB); least recently used artifacts are evicted, never "
        "those of the running job.",
    ),
    resend_interval: float = typer.Option(
        10.0, metavar="SECONDS", help="Seconds between resends of results the host has not acknowledged yet."
    ),
    result_retention: float = typer.Option(
        72.0,
        metavar="HOURS",
        help="Hours after its job's expiry that an unacknowledged result is still resent; then it is dropped "
        "with a log line (a host that was killed is not waited for for ever).",
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
    # the converted arguments (ctx.params holds click's raw values: str, not Path, in older typer)
    options = {k: v for k, v in locals().items() if k not in ("ctx", "config")}
    if config is not None:
        try:
            _apply_config(ctx, config, options)
        except AgentError as exc:
            typer.echo("edgeprof-agent: error: %s" % exc, err=True)
            raise typer.Exit(2) from None
    _serve(**options)


def _apply_config(ctx: typer.Context, path: Path, options: Dict[str, Any]) -> None:
    """Fill ``options`` from the config file where the option was not given on the command line."""
    from agent.config import load_config

    for key, value in load_config(path).items():
        if key not in options:
            raise AgentError("config file %s: %r is not an option of `run`" % (path, key))
        # by name: typer vendors click's ParameterSource in its newer releases, imports it in older ones
        source = ctx.get_parameter_source(key)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            options[key] = value


def _serve(
    broker: str,
    device_id: Optional[str],
    state_dir: Path,
    device_key: Optional[Path],
    host_key: Optional[Path],
    create_key: bool,
    job_key_file: Optional[Path],
    insecure_accept_unsigned: bool,
    broker_credentials: Optional[Path],
    broker_ca: Optional[Path],
    broker_cert: Optional[Path],
    broker_key: Optional[Path],
    power: Optional[str],
    target: str,
    targets_dir: Optional[List[Path]],
    log_level: str,
    log_file: Optional[Path],
    log_max_bytes: int,
    log_backups: int,
    cache_max_bytes: int,
    resend_interval: float,
    result_retention: float,
    cancel_queued: bool,
    exit_with_parent: bool,
) -> None:
    from agent.logs import setup_logging
    from agent.mqtt_client import broker_security
    from agent.protocol import local_device_id, parse_broker_url
    from agent.service import AgentService
    from agent.signing import load_private_key, load_public_key

    device_id = device_id or local_device_id()
    try:
        if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise AgentError("--log-level %r: give DEBUG, INFO, WARNING or ERROR" % log_level)
        if cache_max_bytes < 0:
            raise AgentError("--cache-max-bytes %d: give a size in bytes, 0 or more" % cache_max_bytes)
        if job_key_file is not None:
            load_public_key(job_key_file)  # an old hex key is refused with the migration step
            raise AgentError("--job-key-file is gone: pass the host's public key with --host-key")
        if power is not None:
            _check_power_name(power)
        security = broker_security(parse_broker_url(broker), broker_credentials, broker_ca, broker_cert, broker_key)
        if not target:
            target = detect_target(targets_dir)
        host_pub = host_key or state_dir / HOST_KEY_NAME
        if insecure_accept_unsigned and host_key is None:
            trusted = None
        elif not host_pub.exists() and host_key is None:
            raise AgentError(
                "no host key: run `edgeprof-agent enrol --host-key HOST.pub --state-dir %s` with the public key "
                "`edgeprof keygen` wrote on the host, or pass --host-key" % state_dir
            )
        else:
            trusted = load_public_key(host_pub)
        key = load_private_key(device_key or state_dir / DEVICE_KEY_NAME, create=create_key)
        log_path = log_file or state_dir / "logs" / "agent.jsonl"
        try:  # once the options are checked: a refused start leaves nothing behind
            setup_logging(log_level, log_path, device_id, log_max_bytes, log_backups)
        except (ValueError, OSError) as exc:
            raise AgentError(
                "cannot log to %s: %s (see --log-file, --log-level, --log-max-bytes)" % (log_path, exc)
            ) from None
        service = AgentService(
            broker,
            device_id,
            state_dir,
            key,
            trusted,
            power=power,
            target=target,
            resend_interval_s=resend_interval,
            cancel_queued=cancel_queued,
            security=security,
            result_retention_s=result_retention * 3600.0,
            cache_max_bytes=cache_max_bytes,
        )
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(2) from None
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    if exit_with_parent:
        from agent.parent_watch import on_parent_exit

        on_parent_exit(service.stop)
    service.run()


def _check_power_name(name: str) -> None:
    if name not in SENSORS:
        raise AgentError("--power %r is not a power source this agent knows: %s" % (name, ", ".join(sorted(SENSORS))))


def version() -> None:
    """Print the agent's version and the runtimes it finds."""
    from agent.runtimes import installed_runtimes

    typer.echo(_version_line())
    for name, ver in sorted(installed_runtimes().items()):
        typer.echo("  %s %s" % (name, ver))


def _protocol_version() -> int:
    from agent.protocol import PROTOCOL_VERSION

    return PROTOCOL_VERSION


# The other commands live in their own modules; registered here, in the order --help lists them.
app.command()(monitor)
app.command()(keygen)
app.command()(enrol)
app.command()(install)
app.command()(doctor)
app.command()(version)


def main() -> None:
    import warnings

    # cryptography warns on every import under Python 3.8, which JetPack 5 ships and we support
    warnings.filterwarnings("ignore", message=r"Python 3\.8 is no longer supported")
    app()


if __name__ == "__main__":
    main()
