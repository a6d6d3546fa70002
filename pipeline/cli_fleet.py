"""``edgeprof fleet``: enrol a device's public key, list the devices the broker knows, collect late results.

``enrol DEVICE_ID PUBKEY_FILE`` copies the key ``edgeprof-agent keygen`` wrote on the device into the
host's keyring; from then on that device's results and status are believed. ``ls`` reads the
retained status of every device on the broker, checks each against the keyring, and prints state,
profile, current job and when it was last heard from; devices that share one machine are marked.
``collect OUT`` is for a host that was stopped or killed mid-run: it takes in what the devices still
hold for the run (they resend until acknowledged) and rebuilds the report.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from agent.errors import ProtocolError
from agent.readable_cli import ReadableTyper
from pipeline.console import make_console
from pipeline.dispatch.keyring import DEFAULT_KEYRING, Keyring
from pipeline.errors import PipelineError

app = ReadableTyper(
    error_prefix="edgeprof",
    help="The devices this host trusts (enrol) and what the broker knows of them (ls).",
    no_args_is_help=True,
)

_KEYRING_HELP = "Folder of enrolled device public keys (default: ~/.config/edgeprof/devices)."


@app.command()
def enrol(
    device_id: str = typer.Argument(..., metavar="DEVICE_ID", help="The device's id (its --device-id)."),
    public_key: Path = typer.Argument(
        ..., metavar="PUBKEY_FILE", help="The device's public key file (device.key.pub)."
    ),
    keyring: Path = typer.Option(DEFAULT_KEYRING, metavar="DIR", help=_KEYRING_HELP),
    replace: bool = typer.Option(False, "--replace", help="Replace another key already enrolled for this id."),
) -> None:
    """Trust DEVICE_ID's public key: its results, status and refusals are believed from now on."""
    try:
        key = Keyring(keyring).enrol(device_id, public_key, replace=replace)
    except (PipelineError, ProtocolError) as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"enrolled {device_id} with key {key.fingerprint} ({keyring / (device_id + '.pub')})")


def read_statuses(broker_url: str, keyring: Keyring, wait_s: float, security: object = None) -> dict[str, tuple]:
    """Device id -> (AgentStatus or None, problem or "") from the retained status messages on the broker."""
    import uuid

    from agent.mqtt_client import broker_security, detach, make_client
    from agent.protocol import STATUS_WILDCARD, AgentStatus, decode, device_id_from_topic, parse_broker_url
    from agent.signing import verify

    broker = parse_broker_url(broker_url)
    found: dict[str, tuple] = {}
    lock = threading.Lock()
    connected = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        if not reason_code.is_failure:
            client.subscribe(STATUS_WILDCARD, qos=1)
            connected.set()

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        if not msg.payload:
            return
        try:
            device_id = device_id_from_topic(msg.topic)
        except ProtocolError:
            return
        try:
            status = decode(AgentStatus, msg.payload)
        except ProtocolError as exc:
            entry: tuple = (None, f"unreadable status: {exc}")
        else:
            key = keyring.get(device_id)
            problem = ""
            if status.device_id != device_id:
                problem = f"status names {status.device_id}"
            elif key is None:
                problem = "not enrolled"
            else:
                try:
                    verify(status, key, "status")
                except ProtocolError:
                    problem = "bad signature"
            entry = (status, problem)
        with lock:
            found[device_id] = entry

    client = make_client(
        broker,
        "edgeprof-fleet-" + uuid.uuid4().hex[:12],
        clean_session=True,
        security=security or broker_security(broker),  # type: ignore[arg-type]
    )
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(broker["host"], broker["port"], keepalive=30)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot reach the MQTT broker at {broker['host']}:{broker['port']}: {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(10):
            raise PipelineError(f"the MQTT broker at {broker['host']}:{broker['port']} did not accept the connection")
        time.sleep(wait_s)  # retained statuses arrive right after subscribing
    finally:
        client.disconnect()
        client.loop_stop()
        detach(client)
    with lock:
        return dict(found)


def _age(ts: float) -> str:
    if ts <= 0:
        return "?"
    seconds = max(0.0, time.time() - ts)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


@app.command("ls")
def list_devices(
    broker: str = typer.Option(..., metavar="URL", help="The broker the devices use (mqtt://HOST:PORT)."),
    keyring: Path = typer.Option(DEFAULT_KEYRING, metavar="DIR", help=_KEYRING_HELP),
    wait: float = typer.Option(1.5, metavar="SECONDS", help="How long to listen for retained status messages."),
    broker_credentials: Path | None = typer.Option(None, metavar="FILE", help="username=/password= file."),
    broker_ca: Path | None = typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS)."),
    broker_cert: Path | None = typer.Option(None, metavar="FILE", help="Client certificate (TLS)."),
    broker_key: Path | None = typer.Option(None, metavar="FILE", help="Private key of --broker-cert."),
) -> None:
    """List the devices on the broker: state, profile, current job, last seen, and whether to trust them."""
    from agent.mqtt_client import broker_security
    from agent.protocol import parse_broker_url

    try:
        security = broker_security(parse_broker_url(broker), broker_credentials, broker_ca, broker_cert, broker_key)
        statuses = read_statuses(broker, Keyring(keyring), wait, security)
    except (PipelineError, ProtocolError) as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    console = make_console()
    if not statuses:
        console.print(f"no device has announced itself on {escape(broker)}")
        return
    machines: dict[str, list[str]] = {}
    for device_id, (status, _) in statuses.items():
        if status is not None and status.state != "offline":
            machines.setdefault(status.machine_id or status.hostname, []).append(device_id)
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("device", "state", "target", "current job", "last seen", "agent", "runtimes", "trust", "notes"):
        table.add_column(column, no_wrap=column == "device")
    for device_id, (status, problem) in sorted(statuses.items()):
        if status is None:
            table.add_row(escape(device_id), "?", "", "", "", "", "", "[red]refused[/red]", escape(problem))
            continue
        shared = [d for d in machines.get(status.machine_id or status.hostname, []) if d != device_id]
        note = f"shares a machine with {', '.join(shared)}: not independent" if shared else ""
        trust = "[green]verified[/green]" if not problem else f"[red]{escape(problem)}[/red]"
        table.add_row(
            escape(device_id),
            status.state,
            escape(status.target or "?"),
            escape(status.current_job or "-"),
            _age(status.ts),
            escape(status.agent_version),
            escape(", ".join(sorted(status.runtimes)) or "-"),
            trust,
            escape(note),
        )
    console.print(table)


@app.command("collect")
def collect_late(
    out: Path = typer.Argument(..., metavar="OUT", help="The output folder of the run (holds results.db)."),
    broker: str = typer.Option(..., metavar="URL", help="The broker the devices use."),
    run_id: str | None = typer.Option(None, metavar="ID", help="Which run (default: the latest)."),
    wait: float = typer.Option(60.0, metavar="SECONDS", help="How long to wait for the results still out."),
    host_key: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="The host key that signed the run's jobs (default: OUT/keys/host.key, else ~/.config/edgeprof/host.key).",
    ),
    keyring: Path = typer.Option(DEFAULT_KEYRING, metavar="DIR", help=_KEYRING_HELP),
    broker_credentials: Path | None = typer.Option(None, metavar="FILE", help="username=/password= file."),
    broker_ca: Path | None = typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS)."),
    broker_cert: Path | None = typer.Option(None, metavar="FILE", help="Client certificate (TLS)."),
    broker_key: Path | None = typer.Option(None, metavar="FILE", help="Private key of --broker-cert."),
) -> None:
    """After a host was stopped or killed: take in the results its devices still hold for a run, then
    rebuild its report (the devices resend until acknowledged)."""
    from agent.mqtt_client import broker_security
    from agent.protocol import parse_broker_url
    from agent.signing import load_public_key
    from pipeline.dispatch.keyring import DEFAULT_HOST_KEY, load_host_key
    from pipeline.dispatch.mqtt_host import MQTTHost
    from pipeline.export import write_outputs
    from pipeline.results_db import ResultsDB
    from pipeline.run_summary import summary_for_run

    db_path = out / "results.db"
    if not db_path.exists():
        typer.echo(f"edgeprof: error: {db_path} does not exist: name the --out folder of a run", err=True)
        raise typer.Exit(1)
    key_path = host_key or (out / "keys" / "host.key" if (out / "keys" / "host.key").exists() else DEFAULT_HOST_KEY)
    db = ResultsDB(db_path)
    host = None
    try:
        run = run_id or db.latest_run()
        if run is None:
            raise PipelineError(f"{db_path} holds no run yet")
        ring = Keyring(keyring)
        local_pub = out / "agent-state" / "device.key.pub"
        if local_pub.exists():  # the run's own local agent
            from agent.protocol import local_device_id

            ring.add(local_device_id(), load_public_key(local_pub))
        security = broker_security(parse_broker_url(broker), broker_credentials, broker_ca, broker_cert, broker_key)
        host = MQTTHost(broker, db, load_host_key(key_path, create=False), ring, security)
        host.connect()
        end = time.monotonic() + wait
        missing = [j for j in db.jobs(run) if not j.has_result]
        console = make_console()
        console.print(f"waiting up to {wait:.0f} s for {len(missing)} result(s) of run {run} on {escape(broker)} …")
        while missing and time.monotonic() < end:
            time.sleep(0.5)
            missing = [j for j in db.jobs(run) if not j.has_result]
        host.close()
        host = None
        write_outputs(out, summary_for_run(db, run), console)
        if missing:
            console.print(f"{len(missing)} job(s) still without a result: see 'unfinished' in {out / 'results.json'}")
    except (PipelineError, ProtocolError) as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if host is not None:
            host.close()
        db.close()
