"""What a device announces about itself: capabilities, the machine it runs on, what it is doing.

Probed once per agent start: probing opens sensors (jtop, NVML) and imports runtimes, which must
not happen in paho's thread on every reconnect, least of all mid-window. The machine id lets the
host see that two agents share one machine, whose measurements are then not independent.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Dict, Optional

from agent import __version__
from agent.protocol import AgentStatus


def machine_id(etc: Path = Path("/etc")) -> str:
    """systemd's /etc/machine-id (or D-Bus's copy), "" where neither exists."""
    for path in (etc / "machine-id", Path("/var/lib/dbus/machine-id")):
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return ""


class Presence:
    """Builds the device's ``AgentStatus`` messages (unsigned; the service signs them)."""

    def __init__(self, device_id: str, target: str, host_key_fingerprint: str) -> None:
        self.device_id = device_id
        self.target = target
        self.host_key_fingerprint = host_key_fingerprint
        self.machine_id = machine_id()
        self.hostname = socket.gethostname()
        self._caps: Optional[Dict[str, Any]] = None

    def capabilities(self) -> Dict[str, Any]:
        if self._caps is None:
            from agent.runtimes import installed_runtimes

            try:
                from agent.power import available as power_available

                sources = list(power_available())
            except Exception:  # a sensor probe must never stop the agent from reporting presence
                sources = []
            self._caps = {"runtimes": installed_runtimes(), "power_sources": sources}
        return self._caps

    def status(self, state: str, current_job: str = "", refused: Optional[Dict[str, int]] = None) -> AgentStatus:
        caps = self.capabilities() if state != "offline" else {"runtimes": {}, "power_sources": []}
        return AgentStatus(
            device_id=self.device_id,
            state=state,
            agent_version=__version__,
            runtimes=caps["runtimes"],
            power_sources=caps["power_sources"],
            target=self.target,
            hostname=self.hostname,
            ts=time.time(),
            machine_id=self.machine_id,
            current_job=current_job,
            host_key=self.host_key_fingerprint,
            refused=dict(refused or {}),
        )
