"""The dispatch seam: one small interface between the main job and whatever runs its jobs.

A :class:`Dispatcher` names the devices that will take the run's jobs, waits until they are online,
takes jobs and hands back results. Three ways of reaching devices implement it: an agent started on
this machine (:mod:`.local`), devices named on the command line (:mod:`.devices`) and every online
device of a fleet that matches a target profile (:mod:`.fleet`). All of them talk MQTT through one
:class:`~pipeline.dispatch.mqtt_host.MQTTHost`, which stores each result before acknowledging it.
"""

from __future__ import annotations

import queue
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TypeVar

from agent.protocol import AgentStatus, BenchmarkJob, BenchmarkResult
from pipeline.dispatch.mqtt_host import JobEvent, MQTTHost
from pipeline.errors import DispatchError

T = TypeVar("T")


class Dispatcher(ABC):
    """Submit jobs to devices and receive their results, over one MQTT host connection."""

    def __init__(self, host: MQTTHost) -> None:
        self.host = host

    @abstractmethod
    def device_ids(self) -> list[str]:
        """The devices this dispatcher sends jobs to."""

    def start(self) -> None:
        """Bring the devices up where that is this dispatcher's job (a local agent); returns at once."""
        return None

    def check(self) -> None:
        """Raise DispatchError when a device this dispatcher runs has died."""
        return None

    def close(self) -> None:
        """Stop what :meth:`start` started."""
        return None

    def wait_ready(self, timeout_s: float) -> dict[str, AgentStatus]:
        """Block until every device has announced itself online; DispatchError naming the missing ones."""
        end = time.monotonic() + timeout_s
        while True:
            self.check()
            status = self.host.devices_snapshot()
            self.check_host_key(status)
            missing = [d for d in self.device_ids() if d not in status or status[d].state == "offline"]
            if not missing:
                return {d: status[d] for d in self.device_ids()}
            if time.monotonic() > end:
                refused = self.host.unverified_snapshot()
                why = "; ".join(f"{d}: {refused[d]}" for d in missing if d in refused)
                raise DispatchError(
                    f"device(s) {', '.join(missing)} did not come online on {self.host.url} within "
                    f"{timeout_s:.0f} s: " + (f"their status was refused ({why})" if why else self.missing_hint())
                )
            time.sleep(0.1)

    def check_host_key(self, status: dict[str, AgentStatus]) -> None:
        """DispatchError at once when a device trusts another host key than the one signing this run's jobs."""
        ours = self.host.host_key.public.fingerprint
        for d in self.device_ids():
            theirs = status[d].host_key if d in status else ""
            if theirs and theirs != ours and status[d].state != "offline":
                raise DispatchError(
                    f"{d} trusts host key {theirs}, but this host signs with {ours}: it would refuse every job. "
                    f"Run `edgeprof-agent enrol --host-key HOST.pub` on {d} with this host's public key "
                    f"({self.host.host_key.path}.pub), or pass the --host-key it trusts"
                )

    def missing_hint(self) -> str:
        return f"start `edgeprof-agent run --broker {self.host.url}` there, or check the id"

    def submit(self, job: BenchmarkJob) -> None:
        if job.device_id not in self.device_ids():
            raise DispatchError(f"job {job.job_id} is for {job.device_id}, which this run does not address")
        self.host.send_job(job)

    def receive(self, timeout_s: float) -> BenchmarkResult | None:
        """The next newly stored result, or None after ``timeout_s``."""
        self.check()
        try:
            return self.host.results.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def job_events(self) -> list[JobEvent]:
        """Job state changes and refusals reported since the last call."""
        events = []
        while True:
            try:
                events.append(self.host.events.get_nowait())
            except queue.Empty:
                return events

    def spread(self, pairs: Sequence[tuple[T, str]]) -> list[tuple[T, str]]:
        """Which (build, device) pairs to issue, from every build each device can run: all of them,
        unless the dispatcher spreads builds over equivalent devices (the fleet)."""
        return list(pairs)

    def retry_device(self, job: BenchmarkJob, tried: Sequence[str]) -> str | None:
        """Another device to retry a timed-out ``job`` on, or None (only the fleet has equivalents)."""
        return None

    def online(self) -> dict[str, bool]:
        status = self.host.devices_snapshot()
        return {d: d in status and status[d].state != "offline" for d in self.device_ids()}

    def __enter__(self) -> Dispatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
