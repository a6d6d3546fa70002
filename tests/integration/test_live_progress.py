"""Live progress end to end: a real agent's phases reach the host, in order, over real Mosquitto."""

from __future__ import annotations

import dataclasses
import queue
import time
from pathlib import Path

import pytest

from agent.protocol.progress import parse_progress
from agent.signing import sign_job
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.results_db import ResultsDB

from .test_agent_resilience import DEVICE, AgentProcess, enrolled, make_job, served  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


def test_window_phases_arrive_in_order_with_a_falling_eta(tmp_path: Path, mosquitto, served) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    model, ev = served
    key, keyring = enrolled(tmp_path, tmp_path / "agent" / "state")
    agent = AgentProcess(mosquitto.url, tmp_path / "agent" / "state", tmp_path / "host.key.pub").start()
    db = ResultsDB(tmp_path / "host.db")
    host = MQTTHost(mosquitto.url, db, key, keyring)
    try:
        host.connect()
        NamedDevices(host, [DEVICE]).wait_ready(30)
        job = make_job(model, ev, key, min_duration_s=1.0)
        # two windows, each phase longer than the 0.5 s between two progress messages
        job = sign_job(dataclasses.replace(job, batch_sizes=[1, 8], warmup_s=0.7, signature=""), key)
        db.add_jobs([job])
        host.send_job(job)
        result = host.results.get(timeout=90)
        assert result.job_id == job.job_id and result.status == "ok", result.error
        time.sleep(0.5)
        events = []
        while True:
            try:
                events.append(host.events.get_nowait())
            except queue.Empty:
                break
    finally:
        host.close()
        db.close()
        agent.stop()
    details = [e.detail for e in events if e.job_id == job.job_id and e.state == "running"]
    phases = [p for p in map(parse_progress, details) if p is not None]
    seen = [(p.k, p.phase) for p in phases]
    assert (1, "measuring") in seen and (2, "measuring") in seen, details
    assert [p.k for p in phases] == sorted(p.k for p in phases), seen  # window 1's phases, then window 2's
    assert all(p.n == 2 and p.batch_size == (1 if p.k == 1 else 8) for p in phases), seen
    etas = [p.eta_s for p in phases]
    assert all(e is not None for e in etas) and etas[0] >= etas[-1], etas  # type: ignore[operator]
    assert db.path  # the states went through the host's database as well
