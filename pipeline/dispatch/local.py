"""Dispatch to an agent started on this machine, in a separate process, connected to the broker
exactly as a device would be (and, beside it, to devices named on the command line)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.mqtt_client import BrokerSecurity
from pipeline.dispatch.base import Dispatcher
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError


class LocalAgent:
    """``start()`` launches ``edgeprof-agent run``; ``stop()`` ends it with SIGTERM (then SIGKILL).

    The agent gets its device key and the host's public key as files, and broker credentials
    through its environment: nothing secret is in its command line."""

    def __init__(
        self,
        broker_url: str,
        device_id: str,
        state_dir: Path,
        device_key_file: Path,
        host_public_key_file: Path,
        log_path: Path,
        power: str | None = None,
        cancel_queued: bool = True,
        security: BrokerSecurity | None = None,
    ) -> None:
        self.broker_url = _without_credentials(broker_url)
        self.device_id = device_id
        self.state_dir = Path(state_dir)
        self.device_key_file = Path(device_key_file)
        self.host_public_key_file = Path(host_public_key_file)
        self.log_path = Path(log_path)
        self.power = power
        self.cancel_queued = cancel_queued
        self.security = security or BrokerSecurity()
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "agent.cli",
            "run",
            "--broker",
            self.broker_url,
            "--device-id",
            self.device_id,
            "--state-dir",
            str(self.state_dir),
            "--device-key",
            str(self.device_key_file),
            "--host-key",
            str(self.host_public_key_file),
            "--exit-with-parent",
            *self.security.args(),
        ]
        if self.power:
            cmd += ["--power", self.power]
        if self.cancel_queued:
            # this agent serves one run at a time: jobs left queued by an earlier run into the same
            # folder are cancelled (reported as such), not run ahead of this run's jobs
            cmd += ["--cancel-queued"]
        return cmd

    def start(self) -> LocalAgent:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._log = log
        # Its own session: a terminal's Ctrl-C reaches the host only, which then stops the agent in
        # order (SIGTERM: the running job is abandoned cleanly, not reported as a crash).
        self._proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.security.env()},
            start_new_session=True,
        )
        return self

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise DispatchError(
                f"the local agent exited with code {self._proc.returncode}: "
                + (" | ".join(tail) or "no output")
                + f" (full log: {self.log_path})"
            )

    def stop(self, timeout_s: float = 15.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
        self._proc = None

    def __enter__(self) -> LocalAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _without_credentials(url: str) -> str:
    """``url`` without user:pass@ (those go to the agent through its environment)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url if "://" in url else "mqtt://" + url)
    if not parts.username and not parts.password:
        return url
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class LocalAgentDispatcher(Dispatcher):
    """Starts ``agent`` with :meth:`start`, sends it (and the devices in ``also``) jobs, stops it in
    :meth:`close`. A dead agent process is a DispatchError quoting its log, not a silent wait."""

    def __init__(self, host: MQTTHost, agent: LocalAgent, also: Sequence[str] = ()) -> None:
        super().__init__(host)
        self.agent = agent
        self._ids = list(dict.fromkeys([agent.device_id, *also]))

    def device_ids(self) -> list[str]:
        return list(self._ids)

    def start(self) -> None:
        self.agent.start()

    def check(self) -> None:
        self.agent.check_alive()

    def close(self) -> None:
        self.agent.stop()

    def missing_hint(self) -> str:
        return f"the local agent did not announce itself (its log: {self.agent.log_path})"
