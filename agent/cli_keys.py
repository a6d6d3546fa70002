"""``edgeprof-agent keygen`` and ``enrol``: this device's key pair and the host key it trusts."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli_options import DEFAULT_STATE_DIR, DEVICE_KEY_NAME, HOST_KEY_NAME, STATE_DIR_HELP
from agent.errors import AgentError


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
