"""``edgeprof-agent``: the on-device command (run the service, keygen, enrol, monitor, doctor, version)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import typer

from agent import __version__
from agent.errors import AgentError
from agent.power import SENSORS
from agent.readable_cli import ReadableTyper

if TYPE_CHECKING:
    from targets import Catalog

app = ReadableTyper(
    error_prefix="edgeprof-agent",
    help="edgeprof's on-device agent: receives signed benchmark jobs over MQTT, measures latency, "
    "throughput, power and accuracy on this device, and reports results that survive restarts.",
    add_completion=False,
    no_args_is_help=True,
)

TARGETS_DIR_HELP = (
    "A folder of your own profile .yaml files, added to the shipped ones (repeatable); a profile with "
    "a shipped id replaces it. Also read from $EDGEPROF_TARGETS_DIR (folders separated by ':')."
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


DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024  # agent.logs.DEFAULT_MAX_BYTES, without importing it for --help
DEFAULT_LOG_BACKUPS = 5
DEFAULT_CACHE_MAX_BYTES = 2 * 1024**3  # agent.artifacts.DEFAULT_MAX_BYTES
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "edgeprof-agent"
DEVICE_KEY_NAME = "device.key"
HOST_KEY_NAME = "host.pub"
STATE_DIR_HELP = "Where the agent keeps its keys, outbox, queued jobs and artifact cache (survives reboots)."


@app.command()
def run(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None,
        metavar="FILE",
        help="JSON file of these options (keys: the option names with _ for -, as `install` writes it); "
        "an option given here wins over the file.",
    ),
    broker: str = typer.Option(
        "mqtt://127.0.0.1:1883",
        metavar="URL",
        help="MQTT broker URL: mqtt://host[:port] or mqtts://... (credentials: --broker-credentials or "
        "$EDGEPROF_MQTT_USERNAME/$EDGEPROF_MQTT_PASSWORD, which, unlike user:pass@ here, no process list shows).",
    ),
    device_id: str = typer.Option(
        None, metavar="ID", help="This device's id in topics and results (default: local-<hostname>)."
    ),
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, metavar="DIR", help=STATE_DIR_HELP),
    device_key: Optional[Path] = typer.Option(
        None, metavar="PATH", help="This device's private key (default: DIR/device.key; see `keygen`)."
    ),
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
    broker_credentials: Optional[Path] = typer.Option(
        None, metavar="FILE", help="File with username=NAME and password=SECRET lines for the broker."
    ),
    broker_ca: Optional[Path] = typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS)."),
    broker_cert: Optional[Path] = typer.Option(None, metavar="FILE", help="Client certificate for the broker (TLS)."),
    broker_key: Optional[Path] = typer.Option(None, metavar="FILE", help="Private key of --broker-cert."),
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


@app.command()
def monitor(
    duration: str = typer.Option("10m", metavar="TIME", help="How long to sample: 30s, 10m, 1h."),
    pid: Optional[int] = typer.Option(
        None, metavar="PID", help="Sample this process's CPU time and memory instead of the whole machine's."
    ),
    interval: str = typer.Option("1s", metavar="TIME", help="Time between samples: 1s, 500ms."),
    out: Optional[Path] = typer.Option(
        None, metavar="FILE", help="Write the summary JSON here (for `edgeprof report --monitor-summary FILE`)."
    ),
    power: Optional[str] = typer.Option(
        None, metavar="NAME", help="Power sensor: %s (default: the best real one found)." % ", ".join(SENSORS)
    ),
    broker: Optional[str] = typer.Option(None, metavar="URL", help="Publish the summary to this broker (not yet)."),
) -> None:
    """Sample this device's utilisation under its real load (CPU, memory, GPU, power, clocks) and
    write a summary whose busy fraction the host's cost model takes (--monitor-summary)."""
    from agent.monitor import Monitor, parse_duration, write_summary

    try:
        if broker is not None:
            raise AgentError(
                "--broker: publishing the summary over MQTT is not implemented yet; write it with --out FILE "
                "and give that file to `edgeprof report OUT --monitor-summary FILE` on the host"
            )
        summary = Monitor(parse_duration(duration), parse_duration(interval, "--interval"), pid, power).run()
        text = write_summary(summary, out)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(2) from None
    typer.echo(text if out is None else "wrote %s: utilisation %.3f over %.0f s (%d samples; %s)" % (
        out, summary["utilisation"], summary["window_s"], summary["samples"], summary["source"]))  # fmt: skip


@app.command()
def keygen(
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, metavar="DIR", help=STATE_DIR_HELP),
    device_id: str = typer.Option(None, metavar="ID", help="This device's id, for the enrol line printed."),
) -> None:
    """Create this device's key pair (DIR/device.key, DIR/device.key.pub); an existing one is kept."""
    from agent.protocol import local_device_id
    from agent.signing import create_private_key, public_key_path

    path = state_dir / DEVICE_KEY_NAME
    try:
        key = create_private_key(path)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(1) from None
    pub = public_key_path(path)
    typer.echo("wrote %s (mode 600) and %s, fingerprint %s" % (path, pub, key.public.fingerprint))
    typer.echo("on the host: edgeprof fleet enrol %s %s" % (device_id or local_device_id(), pub))


@app.command()
def enrol(
    host_key: Path = typer.Option(..., metavar="FILE", help="The host's public key (`edgeprof keygen` wrote it)."),
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, metavar="DIR", help=STATE_DIR_HELP),
    create_key: bool = typer.Option(False, "--create-key", help="Also create this device's key pair if absent."),
    device_id: str = typer.Option(None, metavar="ID", help="This device's id, for the enrol line printed."),
) -> None:
    """Trust a host: store its public key as DIR/host.pub (another one already there is kept)."""
    from agent.protocol import local_device_id
    from agent.signing import load_private_key, load_public_key, public_key_path, write_public_key

    try:
        trusted = load_public_key(host_key)
        write_public_key(trusted, state_dir / HOST_KEY_NAME)
        device = load_private_key(state_dir / DEVICE_KEY_NAME, create=create_key)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(1) from None
    typer.echo("trusting host key %s (%s)" % (trusted.fingerprint, state_dir / HOST_KEY_NAME))
    pub = public_key_path(state_dir / DEVICE_KEY_NAME)
    typer.echo(
        "device key %s; on the host: edgeprof fleet enrol %s %s"
        % (device.public.fingerprint, device_id or local_device_id(), pub)
    )


@app.command()
def install(
    broker: str = typer.Option(..., metavar="URL", help="MQTT broker URL the service connects to."),
    device_id: str = typer.Option(..., metavar="ID", help="This device's id in topics and results."),
    host_key: Path = typer.Option(..., metavar="FILE", help="The host's public key (`edgeprof keygen` wrote it)."),
    root: Path = typer.Option(Path("/"), metavar="DIR", help="Prefix of every path written (for tests)."),
    user: str = typer.Option("edgeprof", metavar="NAME", help="The user the service runs as."),
    credentials_file: Optional[Path] = typer.Option(
        None, metavar="FILE", help="username=/password= file for the broker; copied to /etc/edgeprof (mode 640)."
    ),
    ca_file: Optional[Path] = typer.Option(None, metavar="FILE", help="CA certificate of the broker (TLS); copied."),
    cert_file: Optional[Path] = typer.Option(None, metavar="FILE", help="Client certificate for the broker; copied."),
    key_file: Optional[Path] = typer.Option(None, metavar="FILE", help="Private key of --cert-file; copied."),
    exec_path: Optional[Path] = typer.Option(
        None, "--exec", metavar="PATH", help="The edgeprof-agent the unit runs (default: this environment's)."
    ),
    cache_max_bytes: int = typer.Option(
        DEFAULT_CACHE_MAX_BYTES, metavar="BYTES", help="Size bound of the artifact cache (2 GiB)."
    ),
    target: str = typer.Option("", metavar="ID", help="Target profile id, where detection does not find it."),
) -> None:
    """Install the agent as a systemd service: config file, unit, device key pair, the host's key."""
    from agent import install as installer

    extra: Dict[str, object] = {"cache_max_bytes": cache_max_bytes}
    if target:
        extra["target"] = target
    try:
        done = installer.install(
            broker,
            device_id,
            host_key,
            root=root,
            user=user,
            credentials_file=credentials_file,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            exec_path=exec_path,
            extra=extra,
        )
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(1) from None
    for note in done.notes:
        typer.echo(note)
    typer.echo("wrote %s and %s" % (done.config, done.unit))
    typer.echo("")
    typer.echo("On the host, enrol this device (copy %s there first):" % done.public_key)
    typer.echo("  edgeprof fleet enrol %s device.key.pub    # fingerprint %s" % (device_id, done.fingerprint))
    typer.echo("Then here: systemctl daemon-reload && systemctl enable --now edgeprof-agent")
    typer.echo("  logs: journalctl -u edgeprof-agent, and JSON lines in %s" % done.log_file)


def _check_power_name(name: str) -> None:
    if name not in SENSORS:
        raise AgentError("--power %r is not a power source this agent knows: %s" % (name, ", ".join(sorted(SENSORS))))


def _load_catalog(
    targets_dir: Optional[List[Path]], proc_root: Path = Path("/proc"), sysfs_root: Path = Path("/sys")
) -> Catalog:
    """Shipped profiles plus the user's folders, as ``edgeprof targets`` loads them; AgentError if one is bad."""
    from targets import ProfileError, load_profiles

    try:
        catalog = load_profiles(
            extra_dirs=targets_dir or [], include_env=False, proc_root=proc_root, sysfs_root=sysfs_root
        )
    except ProfileError as exc:
        raise AgentError(str(exc)) from None
    for note in catalog.notes:
        typer.echo("edgeprof-agent: note: %s" % note, err=True)
    return catalog


def detect_target(
    targets_dir: Optional[List[Path]] = None, sysfs_root: Path = Path("/sys"), proc_root: Path = Path("/proc")
) -> str:
    """The profile this device matches, or "" where none does or the shipped catalogue cannot be read.

    Folders the user named are read first, outside the guard: a bad one is an AgentError, not a
    silent miss.
    """
    profiles = _load_catalog(targets_dir, proc_root, sysfs_root) if targets_dir else None
    try:
        from agent.device_match import match_device

        if profiles is None:
            profiles = _load_catalog(None, proc_root, sysfs_root)
        return match_device(sysfs_root=sysfs_root, proc_root=proc_root, profiles=profiles).profile_id or ""
    except Exception:  # detection is a convenience; the profile can be given with --target
        return ""


@app.command()
def doctor(
    targets_dir: Optional[List[Path]] = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", metavar="DIR", help=TARGETS_DIR_HELP
    ),
    sysfs_root: Path = typer.Option(Path("/sys"), hidden=True, help="Root of the sysfs tree (for tests)."),
    proc_root: Path = typer.Option(Path("/proc"), hidden=True, help="Root of the procfs tree (for tests)."),
) -> None:
    """Say which device profile this machine matches and why, which runtimes and power sources work."""
    from agent.device_match import match_device
    from agent.power import probe
    from agent.runtimes import installed_runtimes

    try:
        profiles = _load_catalog(targets_dir, proc_root=proc_root, sysfs_root=sysfs_root)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(1) from None
    yours = [p for p in profiles.values() if p.origin == "user"]
    if yours:
        ids = ", ".join(p.id for p in yours)
        typer.echo("profiles: %d shipped, %d of yours: %s" % (len(profiles) - len(yours), len(yours), ids))
    match = match_device(sysfs_root=sysfs_root, proc_root=proc_root, profiles=profiles)
    for line in match.describe():
        typer.echo(line)
    runtimes = installed_runtimes()
    typer.echo("runtimes: " + (", ".join("%s %s" % kv for kv in sorted(runtimes.items())) or "none found"))
    for name, problem in _missing_runtimes(runtimes).items():
        typer.echo("  %-9s no: %s" % (name, problem))
    if sysfs_root == Path("/sys"):
        _echo_power_mode()
    typer.echo("power sources:")
    for name, problem in probe(sysfs_root=sysfs_root, proc_root=proc_root).items():
        typer.echo("  %-9s %s" % (name, "works" if problem is None else "no: %s" % problem))


def _missing_runtimes(installed: Dict[str, str]) -> Dict[str, str]:
    """name -> why, for the registered runtimes that do not work here."""
    from agent.errors import RuntimeLoadError
    from agent.runtimes import declared_runtimes

    missing = {}
    for name, cls in declared_runtimes().items():
        if name not in installed:
            try:
                cls.version()
            except RuntimeLoadError as exc:
                missing[name] = str(exc)
    return missing


def _echo_power_mode() -> None:
    """The Jetson power mode this device is in (what --power-modes switches from and back to)."""
    from agent.power_modes import NVPModel, PowerModeError

    nvpmodel = NVPModel.detect()
    if nvpmodel is None:
        return
    try:
        mode = nvpmodel.query()
        typer.echo(
            "power mode: %s (nvpmodel %d); modes: %s" % (mode.name, mode.id, ", ".join(nvpmodel.modes().values()))
        )
    except PowerModeError as exc:
        typer.echo("power mode: unknown (%s)" % exc)


@app.command()
def version() -> None:
    """Print the agent's version and the runtimes it finds."""
    from agent.runtimes import installed_runtimes

    typer.echo(_version_line())
    for name, ver in sorted(installed_runtimes().items()):
        typer.echo("  %s %s" % (name, ver))


def _protocol_version() -> int:
    from agent.protocol import PROTOCOL_VERSION

    return PROTOCOL_VERSION


def main() -> None:
    import warnings

    # cryptography warns on every import under Python 3.8, which JetPack 5 ships and we support
    warnings.filterwarnings("ignore", message=r"Python 3\.8 is no longer supported")
    app()


if __name__ == "__main__":
    main()
