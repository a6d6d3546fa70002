"""``edgeprof-agent install``: set the agent up as a systemd service (see :mod:`agent.install`)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import typer

from agent.cli_options import DEFAULT_CACHE_MAX_BYTES
from agent.errors import AgentError


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
