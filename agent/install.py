"""``edgeprof-agent install``: the agent as a systemd service, with its config, keys and state folder.

What it writes (every path under ``root``, ``/`` on a real device; a test passes a tmp folder, and
the files written then name the prefixed paths, so the tree is self-consistent):

- ``/etc/edgeprof/agent.json``: the ``run`` options (:mod:`agent.config`); broker credentials and
  TLS files are copied beside it (mode 640), because the service's user cannot read them in
  ``/root`` and ``ProtectHome`` hides ``/home``;
- ``/etc/systemd/system/edgeprof-agent.service``: the unit (:func:`render_unit`);
- ``/var/lib/edgeprof/device.key`` (+ ``.pub``): this device's key pair, created if missing, never
  replaced; ``/var/lib/edgeprof/host.pub``: the host's key (another one already there is refused).

It does not create the user or start the service: ``scripts/install-agent.sh`` does (useradd,
``systemctl enable --now``), so that this step runs unprivileged in tests.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from agent.config import write_config
from agent.errors import AgentError
from agent.logs import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES

UNIT_NAME = "edgeprof-agent.service"
CONFIG_PATH = Path("/etc/edgeprof/agent.json")
UNIT_DIR = Path("/etc/systemd/system")
STATE_DIR = Path("/var/lib/edgeprof")  # systemd's StateDirectory=edgeprof
LOGS_DIR = Path("/var/log/edgeprof")  # systemd's LogsDirectory=edgeprof
#: Seconds systemd waits before restarting a failed agent, and the restarts allowed in 10 minutes.
RESTART_SEC = 10
START_LIMIT_BURST = 20


@dataclass
class Installed:
    """What :func:`install` did: the paths written and lines to show the user."""

    config: Path
    unit: Path
    log_file: Path
    device_key: Path
    public_key: Path
    fingerprint: str
    notes: List[str] = field(default_factory=list)


def under(root: Path, path: Path) -> Path:
    """``path`` (absolute) placed under ``root``."""
    return Path(root) / path.relative_to("/")


def default_exec() -> Path:
    """The ``edgeprof-agent`` of the environment this runs in (the venv's bin, not a resolved symlink)."""
    beside = Path(sys.executable).parent / "edgeprof-agent"
    if beside.exists():
        return beside
    found = shutil.which("edgeprof-agent")
    if found:
        return Path(found)
    raise AgentError("cannot find the edgeprof-agent command beside %s or on PATH: pass --exec PATH" % sys.executable)


def render_unit(exec_path: Path, config: Path, user: str) -> str:
    """The systemd unit. Hardening that leaves what the agent reads alone: /sys and /proc stay
    readable (power sensors, device matching), /dev stays visible (GPUs, NCS2 over USB), and memory
    may be writable and executable (ONNX Runtime, TensorRT and OpenVINO generate code)."""
    return "\n".join(
        [
            "# Written by `edgeprof-agent install`; run it again to change the settings (in %s)." % config,
            "[Unit]",
            "Description=edgeprof on-device agent (signed benchmark jobs over MQTT)",
            "Wants=network-online.target",
            "After=network-online.target time-sync.target",
            "StartLimitIntervalSec=600",
            "StartLimitBurst=%d" % START_LIMIT_BURST,
            "",
            "[Service]",
            "Type=simple",
            "User=%s" % user,
            "Group=%s" % user,
            "ExecStart=%s run --config %s" % (exec_path, config),
            "Restart=on-failure",
            "RestartSec=%d" % RESTART_SEC,
            # SIGTERM stops the agent cleanly; a running benchmark child is stopped with it
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
            "StateDirectory=edgeprof",
            "StateDirectoryMode=0700",
            "LogsDirectory=edgeprof",
            "LogsDirectoryMode=0750",
            "Environment=PYTHONUNBUFFERED=1",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "PrivateTmp=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "LockPersonality=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def install(
    broker: str,
    device_id: str,
    host_key: Path,
    root: Path = Path("/"),
    user: str = "edgeprof",
    credentials_file: Optional[Path] = None,
    ca_file: Optional[Path] = None,
    cert_file: Optional[Path] = None,
    key_file: Optional[Path] = None,
    exec_path: Optional[Path] = None,
    extra: Optional[Dict[str, object]] = None,
) -> Installed:
    """Write config, unit and keys under ``root`` (see the module docstring); AgentError on a problem."""
    from agent.protocol import parse_broker_url
    from agent.signing import create_private_key, load_private_key, load_public_key, public_key_path, write_public_key

    if parse_broker_url(broker)["password"]:  # a bad URL fails here, not at the service's first start
        raise AgentError(
            "--broker %r carries a password, which the config file would keep readable: give "
            "--credentials-file FILE (username= and password= lines) instead" % broker.split("@")[-1]
        )
    root = Path(root).resolve()
    if not device_id or "/" in device_id or "+" in device_id or "#" in device_id:
        raise AgentError("--device-id %r cannot be an MQTT topic level: use letters, digits, - and _" % device_id)
    exec_path = exec_path or default_exec()
    if not exec_path.is_absolute() or not exec_path.exists():
        raise AgentError("--exec %s: systemd needs the absolute path of an existing edgeprof-agent" % exec_path)
    state = under(root, STATE_DIR)
    config = under(root, CONFIG_PATH)
    notes: List[str] = []

    trusted = load_public_key(host_key)
    write_public_key(trusted, state / "host.pub")  # refuses another host's key already there
    device_key = state / "device.key"
    if device_key.exists():
        key = load_private_key(device_key)
        notes.append("kept the existing device key %s (%s)" % (device_key, key.public.fingerprint))
    else:
        key = create_private_key(device_key)
        notes.append("created the device key %s (%s)" % (device_key, key.public.fingerprint))

    settings: Dict[str, object] = {
        "broker": broker,
        "device_id": device_id,
        "state_dir": state,
        "device_key": device_key,
        "host_key": state / "host.pub",
        "log_file": under(root, LOGS_DIR) / "agent.jsonl",
        "log_max_bytes": DEFAULT_MAX_BYTES,
        "log_backups": DEFAULT_BACKUPS,
    }
    copies = {
        "broker_credentials": (credentials_file, "broker.credentials"),
        "broker_ca": (ca_file, "broker-ca.pem"),
        "broker_cert": (cert_file, "broker-client.pem"),
        "broker_key": (key_file, "broker-client.key"),
    }
    for setting, (source, name) in copies.items():
        if source is not None:
            settings[setting] = _copy_private(source, config.parent / name, user, notes)
    settings.update(extra or {})
    write_config(config, settings)
    unit = under(root, UNIT_DIR) / UNIT_NAME
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(render_unit(exec_path, config, user), encoding="utf-8")
    _chown_state(state, user, notes)
    log_file = Path(str(settings["log_file"]))
    return Installed(config, unit, log_file, device_key, public_key_path(device_key), key.public.fingerprint, notes)


def _copy_private(source: Path, target: Path, user: str, notes: List[str]) -> Path:
    """Copy a secret the service reads to ``target`` (mode 640, group ``user`` where it exists)."""
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise AgentError("cannot read %s: %s" % (source, exc.strerror or exc)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes() == data:
        return target
    tmp = target.with_name("." + target.name + ".tmp")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(str(tmp), 0o640)
    gid = _group_id(user)
    if gid is not None and os.geteuid() == 0:
        os.chown(str(tmp), 0, gid)
    os.replace(str(tmp), str(target))
    notes.append("copied %s to %s (mode 640)" % (source, target))
    return target


def _group_id(user: str) -> Optional[int]:
    import grp

    try:
        return grp.getgrnam(user).gr_gid
    except KeyError:
        return None


def _chown_state(state: Path, user: str, notes: List[str]) -> None:
    """Give the state folder to the service's user (systemd would too, at start, for StateDirectory)."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        notes.append(
            "user %r does not exist yet: create it (`useradd --system %s`) before starting the service; "
            "systemd then gives it %s" % (user, user, state)
        )
        return
    if os.geteuid() != 0:
        return
    for folder, _, files in os.walk(str(state)):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)
