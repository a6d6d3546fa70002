"""Defaults, help texts and options that several of the agent's commands share (cheap to import:
``--help`` must not load the service)."""

from pathlib import Path
from typing import Any, Optional

import typer

TARGETS_DIR_HELP = (
    "A folder of your own profile .yaml files, added to the shipped ones (repeatable); a profile with "
    "a shipped id replaces it. Also read from $EDGEPROF_TARGETS_DIR (folders separated by ':')."
)

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024  # agent.logs.DEFAULT_MAX_BYTES, without importing it for --help
DEFAULT_LOG_BACKUPS = 5
DEFAULT_CACHE_MAX_BYTES = 2 * 1024**3  # agent.artifacts.DEFAULT_MAX_BYTES
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "edgeprof-agent"
DEVICE_KEY_NAME = "device.key"
HOST_KEY_NAME = "host.pub"
STATE_DIR_HELP = "Where the agent keeps its keys, outbox, queued jobs and artifact cache (survives reboots)."

BROKER_URL_HELP = (
    "MQTT broker URL: mqtt://host[:port] or mqtts://... (credentials: --broker-credentials or "
    "$EDGEPROF_MQTT_USERNAME/$EDGEPROF_MQTT_PASSWORD, which, unlike user:pass@ here, no process list shows)."
)


# The options `run` and `monitor --broker` share: how to reach the broker and who this device is.
# Factories, not shared instances: each command gets its own typer.Option.
def broker_option(default: Optional[str], help: str = BROKER_URL_HELP) -> Any:
    return typer.Option(default, metavar="URL", help=help)


def device_id_option() -> Any:
    return typer.Option(None, metavar="ID", help="This device's id in topics and results (default: local-<hostname>).")


def state_dir_option() -> Any:
    return typer.Option(DEFAULT_STATE_DIR, metavar="DIR", help=STATE_DIR_HELP)


def device_key_option() -> Any:
    return typer.Option(None, metavar="PATH", help="This device's private key (default: DIR/device.key; see `keygen`).")


def broker_credentials_option() -> Any:
    return typer.Option(None, metavar="FILE", help="File with username=NAME and password=SECRET lines for the broker.")


def broker_ca_option() -> Any:
    return typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS).")


def broker_cert_option() -> Any:
    return typer.Option(None, metavar="FILE", help="Client certificate for the broker (TLS).")


def broker_key_option() -> Any:
    return typer.Option(None, metavar="FILE", help="Private key of --broker-cert.")
