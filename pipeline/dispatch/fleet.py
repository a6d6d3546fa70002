"""Dispatch to a fleet: every online device whose status names one of the run's target profiles.

``--targets jetson-orin-nano-8gb`` measures each build once per profile, spread over the online
devices of that profile (the least loaded takes the next build), so a fleet of ten identical boards
finishes ten times sooner instead of measuring the same thing ten times. A job that times out on
one device is retried on another online device of the same profile that has not tried it yet.
Devices named with ``--devices`` take every build, as with :class:`~.devices.NamedDevices`, and so
does a local agent (``--targets local,PROFILE``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from agent.protocol import AgentStatus, BenchmarkJob
from pipeline.dispatch.base import Dispatcher, T
from pipeline.dispatch.local import LocalAgent
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError


class FleetDispatcher(Dispatcher):
    """Jobs go to the online devices matching ``profiles``, and to every device in ``also``."""

    def __init__(
        self,
        host: MQTTHost,
        profiles: Sequence[str],
        also: Sequence[str] = (),
        settle_s: float = 1.0,
        agent: LocalAgent | None = None,
    ) -> None:
        super().__init__(host)
        self.profiles = list(dict.fromkeys(profiles))
        self.agent = agent
        self.also = list(dict.fromkeys(([agent.device_id] if agent else []) + list(also)))
        self.settle_s = settle_s  # retained statuses arrive just after subscribing: give them a moment
        self._ids: list[str] = list(self.also)
        self._load: dict[str, int] = {}

    def device_ids(self) -> list[str]:
        return list(self._ids)

    def start(self) -> None:
        if self.agent is not None:
            self.agent.start()

    def check(self) -> None:
        if self.agent is not None:
            self.agent.check_alive()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.stop()

    def matching(self, status: dict[str, AgentStatus]) -> dict[str, list[str]]:
        """Profile id -> online devices announcing it, in id order."""
        found: dict[str, list[str]] = {p: [] for p in self.profiles}
        for device_id, s in sorted(status.items()):
            if s.state != "offline" and s.target in found:
                found[s.target].append(device_id)
        return found

    def wait_ready(self, timeout_s: float) -> dict[str, AgentStatus]:
        start = time.monotonic()
        end = start + timeout_s
        while True:
            status = self.host.devices_snapshot()
            found = self.matching(status)
            missing = [p for p, ids in found.items() if not ids]
            absent = [d for d in self.also if d not in status or status[d].state == "offline"]
            settled = time.monotonic() - start >= self.settle_s
            if not missing and not absent and settled:
                self._ids = list(dict.fromkeys([d for ids in found.values() for d in ids] + self.also))
                self.check_host_key(status)
                return {d: status[d] for d in self._ids}
            if time.monotonic() > end:
                online = sorted(f"{d} ({s.target or 'no profile'})" for d, s in status.items() if s.state != "offline")
                what = [f"no online device announces profile {p}" for p in missing]
                what += [f"device {d} is not online" for d in absent]
                raise DispatchError(
                    f"{'; '.join(what)} on {self.host.url} after {timeout_s:.0f} s (online: "
                    f"{', '.join(online) or 'none'}). A device announces the profile it matches: see "
                    "`edgeprof-agent doctor` there, or start it with --target PROFILE; `edgeprof fleet ls` lists them"
                )
            time.sleep(0.1)

    def spread(self, pairs: Sequence[tuple[T, str]]) -> list[tuple[T, str]]:
        status = self.host.devices_snapshot()
        chosen: list[tuple[T, str]] = []
        by_build: dict[int, list[tuple[T, str]]] = {}
        for pair in pairs:
            by_build.setdefault(id(pair[0]), []).append(pair)
        for group in by_build.values():
            build = group[0][0]
            able = [d for _, d in group]
            for d in self.also:
                if d in able:
                    chosen.append((build, d))
            for profile in self.profiles:
                candidates = [d for d in able if d not in self.also and status.get(d) and status[d].target == profile]
                if candidates:
                    device = min(candidates, key=lambda d: (self._load.get(d, 0), d))
                    self._load[device] = self._load.get(device, 0) + 1
                    chosen.append((build, device))
        return chosen

    def retry_device(self, job: BenchmarkJob, tried: Sequence[str]) -> str | None:
        status = self.host.devices_snapshot()
        first = status.get(job.device_id)
        if first is None or first.target not in self.profiles:
            return None
        candidates = [
            d
            for d, s in status.items()
            if s.target == first.target and s.state != "offline" and d not in tried and d not in self.also
        ]
        if not candidates:
            return None
        device = min(candidates, key=lambda d: (self._load.get(d, 0), d))
        self._load[device] = self._load.get(device, 0) + 1
        if device not in self._ids:
            self._ids.append(device)
        return device

    def missing_hint(self) -> str:
        return "`edgeprof fleet ls` lists the devices the broker knows"
