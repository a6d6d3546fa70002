"""``edgeprof monitor-summary``: fetch a device's monitor summary from the broker (published by
``edgeprof-agent monitor --broker URL``), verify it, and write the file ``--monitor-summary`` takes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from agent.errors import ProtocolError
from pipeline.dispatch.keyring import DEFAULT_KEYRING
from pipeline.errors import PipelineError


def monitor_summary(
    broker: str = typer.Option(..., metavar="URL", help="The broker the device published to (mqtt://HOST:PORT)."),
    device: str = typer.Option(..., "--device", metavar="ID", help="The device's id (its --device-id)."),
    out: Path = typer.Option(..., metavar="FILE", help="Where to write the summary JSON (for --monitor-summary)."),
    keyring: Path = typer.Option(DEFAULT_KEYRING, metavar="DIR", help="Folder of enrolled device public keys."),
    wait: float = typer.Option(10.0, metavar="SECONDS", help="How long to wait for the retained summary."),
    broker_credentials: Path | None = typer.Option(None, metavar="FILE", help="username=/password= file."),
    broker_ca: Path | None = typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS)."),
    broker_cert: Path | None = typer.Option(None, metavar="FILE", help="Client certificate (TLS)."),
    broker_key: Path | None = typer.Option(None, metavar="FILE", help="Private key of --broker-cert."),
) -> None:
    """Fetch the monitor summary a device published (`edgeprof-agent monitor --broker URL`), check it is
    signed by the device's enrolled key, and write it to FILE for `edgeprof report OUT --monitor-summary FILE`."""
    from agent.mqtt_client import broker_security
    from agent.protocol import check_device_id, parse_broker_url
    from pipeline.dispatch.keyring import Keyring
    from pipeline.files import write_atomic
    from pipeline.monitor_fetch import fetch_summary

    try:
        check_device_id(device)
        security = broker_security(parse_broker_url(broker), broker_credentials, broker_ca, broker_cert, broker_key)
        message = fetch_summary(broker, device, Keyring(keyring), wait, security)
        write_atomic(out, json.dumps(message.summary, indent=2, allow_nan=False) + "\n")
    except (PipelineError, ProtocolError, OSError) as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    s = message.summary
    age = max(0.0, time.time() - message.ts)
    typer.echo(
        f"wrote {out}: utilisation {s['utilisation']:.3f} over {s['window_s']:.0f} s ({s['samples']} samples) "
        f"from {device}, signature verified, made {age:.0f} s ago; use it with "
        f"`edgeprof report OUT --monitor-summary {out}`"
    )
