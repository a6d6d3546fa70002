"""Defaults and help texts that several of the agent's commands share (cheap to import: ``--help``
must not load the service)."""

from pathlib import Path

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
