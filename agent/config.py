"""The agent's config file: the options of ``edgeprof-agent run``, as JSON, for a service.

A systemd unit should not carry a dozen flags, and a device's settings should survive an upgrade of
the unit: ``edgeprof-agent install`` writes them here and the unit runs ``run --config FILE``. The
keys are the long option names of ``run`` with ``_`` for ``-`` (``"broker"``, ``"device_id"``,
``"state_dir"``...); a flag given on the command line wins over the file. JSON because Python 3.8
reads it without extra packages; an unknown key is an error (a typo must not be ignored silently).
Relative paths are read relative to the file's folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from agent.errors import AgentError

#: key -> type of its value. Paths are strings in the file.
KEYS: Dict[str, type] = {
    "broker": str,
    "device_id": str,
    "state_dir": Path,
    "device_key": Path,
    "host_key": Path,
    "broker_credentials": Path,
    "broker_ca": Path,
    "broker_cert": Path,
    "broker_key": Path,
    "power": str,
    "target": str,
    "targets_dir": list,
    "log_level": str,
    "log_file": Path,
    "log_max_bytes": int,
    "log_backups": int,
    "cache_max_bytes": int,
    "resend_interval": float,
    "result_retention": float,
}


def load_config(path: Path) -> Dict[str, Any]:
    """The settings in ``path``, typed (paths as absolute Paths); AgentError naming the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentError("cannot read the config file %s: %s" % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise AgentError("config file %s is not valid JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise AgentError("config file %s must hold a JSON object of run options" % path)
    base = path.resolve().parent
    settings: Dict[str, Any] = {}
    for key, value in data.items():
        if key not in KEYS:
            raise AgentError(
                "config file %s: unknown setting %r; the settings are: %s" % (path, key, ", ".join(sorted(KEYS)))
            )
        settings[key] = _typed(path, key, value, base)
    return settings


def _typed(path: Path, key: str, value: Any, base: Path) -> Any:
    kind = KEYS[key]
    if value is None:
        return None
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise AgentError("config file %s: %r must be a path (a string), not %r" % (path, key, value))
        return base / value
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AgentError("config file %s: %r must be a list of folder paths" % (path, key))
        return [base / v for v in value]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        noun = {str: "string", int: "whole number"}.get(kind, "number")
        raise AgentError("config file %s: %r must be a %s, not %r" % (path, key, noun, value))
    return value


def write_config(path: Path, settings: Dict[str, Any]) -> None:
    """Write ``settings`` (unknown keys refused) as JSON, readable by the service's user, atomically."""
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise AgentError("not agent settings: %s" % ", ".join(unknown))
    data = {}
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, list):
            value = [str(v) for v in value]
        data[key] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(path)
