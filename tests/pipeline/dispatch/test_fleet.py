"""The fleet dispatcher and the collect stage against a real Mosquitto, with fake devices that
publish signed status and results the way agents do: spreading builds over a profile's devices,
retrying a timed-out job on another one, and ending a refused job at once."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from agent.protocol import AgentStatus, BenchmarkResult, Refusal, refusal_topic, result_topic, status_topic
from agent.signing import create_private_key, sign_job
from pipeline.collect import collect, host_deadline
from pipeline.dispatch.fleet import FleetDispatcher
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError
from pipeline.results_db import ResultsDB
from tests.agent.test_protocol import make_job
from tests.pipeline.dispatch.test_mqtt_host import Device, wait_for

ORIN = "jetson-orin-nano-8gb"
PI = "raspberry-pi-5"


@pytest.fixture()
def fleet(tmp_path: Path, mosquitto):  # type: ignore[no-untyped-def]
    """dev-1 and dev-2 online as Orin Nanos, dev-3 as a Pi 5, dev-4 an Orin Nano gone offline."""
    host_key = create_private_key(tmp_path / "host.key")
    keyring = Keyring(tmp_path / "devices")
    devices = {}
    for n, target in ((1, ORIN), (2, ORIN), (3, PI), (4, ORIN)):
        key = create_private_key(tmp_path / f"dev-{n}.key")
        keyring.add(f"dev-{n}", key.public)
        devices[f"dev-{n}"] = Device(mosquitto.url, f"dev-{n}", key)
        state = "offline" if n == 4 else "online"
        devices[f"dev-{n}"].publish(
            status_topic(f"dev-{n}"),
            AgentStatus(f"dev-{n}", state, target=target, ts=time.time(), host_key=host_key.public.fingerprint),
            retain=True,
        )
    db = ResultsDB(tmp_path / "r.db")
    host = MQTTHost(mosquitto.url, db, host_key, keyring)
    host.connect()
    assert wait_for(lambda: len(host.devices_snapshot()) == 4)
    yield host, devices, db, host_key
    for d in devices.values():
        d.close()
    host.close()
    db.close()


def test_a_profile_addresses_its_online_devices_and_spreads_the_builds(fleet) -> None:  # type: ignore[no-untyped-def]
    host, _, _, _ = fleet
    dispatcher = FleetDispatcher(host, [ORIN], settle_s=0.2)
    ready = dispatcher.wait_ready(5)
    assert sorted(ready) == ["dev-1", "dev-2"]  # dev-3 is another profile, dev-4 is offline
    builds = ["b1", "b2", "b3", "b4"]
    pairs = [(b, d) for b in builds for d in ("dev-1", "dev-2")]  # what assign() gives: every build everywhere
    spread = dispatcher.spread(pairs)
    assert sorted(b for b, _ in spread) == builds, "each build must be measured once per profile"
    assert sorted(d for _, d in spread) == ["dev-1", "dev-1", "dev-2", "dev-2"]


def test_devices_named_beside_a_profile_take_every_build(fleet) -> None:  # type: ignore[no-untyped-def]
    host, _, _, _ = fleet
    dispatcher = FleetDispatcher(host, [ORIN], also=["dev-3"], settle_s=0.2)
    assert sorted(dispatcher.wait_ready(5)) == ["dev-1", "dev-2", "dev-3"]
    spread = dispatcher.spread([(b, d) for b in ("b1", "b2") for d in ("dev-1", "dev-2", "dev-3")])
    assert sorted(b for b, d in spread if d == "dev-3") == ["b1", "b2"]
    assert len([1 for _, d in spread if d != "dev-3"]) == 2


def test_a_profile_nobody_announces_is_an_error_naming_what_is_online(fleet) -> None:  # type: ignore[no-untyped-def]
    host, _, _, _ = fleet
    with pytest.raises(DispatchError, match=r"no online device announces profile jetson-agx-orin.*dev-3 \(raspberry"):
        FleetDispatcher(host, ["jetson-agx-orin"], settle_s=0.1).wait_ready(0.5)


def test_a_timed_out_job_is_retried_on_another_device_of_its_profile(fleet) -> None:  # type: ignore[no-untyped-def]
    host, devices, db, host_key = fleet
    dispatcher = FleetDispatcher(host, [ORIN], settle_s=0.2)
    dispatcher.wait_ready(5)
    now = time.time()
    job = sign_job(make_job(job_id="j1", run_id="run", device_id="dev-1", issued_at=now, expires_at=now + 1), host_key)
    db.add_jobs([job])
    dispatcher.submit(job)  # dev-1 never answers
    issued = []

    def retry(old, device_id):  # type: ignore[no-untyped-def]
        again = sign_job(make_job(job_id="j2", run_id="run", device_id=device_id, issued_at=now, expires_at=now + 60),
                         host_key)  # fmt: skip
        db.add_jobs([again], retry_of=old.job_id)
        dispatcher.submit(again)
        issued.append(again)
        # dev-2 measures it
        result = BenchmarkResult("r2", "j2", "run", "ort-fp32", device_id, "ok", "onnxruntime", "fp32", 1, 2, "0")
        devices[device_id].publish(result_topic(device_id), result)
        return again

    out = io.StringIO()
    collected = collect(dispatcher, [job], 60, Console(file=out, width=200), retry=retry, grace_s=0.5)
    assert [r.device_id for r in collected.results] == ["dev-2"]
    [ended] = collected.ended
    assert (ended.job.job_id, ended.state, ended.retried_as) == ("j1", "timed_out", "j2")
    assert collected.complete and not collected.unanswered
    states = {j.job_id: (j.state, j.retry_of) for j in db.jobs("run")}
    assert states == {"j1": ("timed_out", ""), "j2": ("done", "j1")}
    assert "retrying on dev-2" in out.getvalue()
    assert "[0/1 jobs] ETA " in out.getvalue()  # not a terminal: the bar's line is printed as text


def test_a_refused_job_ends_at_once_with_the_devices_reason(fleet) -> None:  # type: ignore[no-untyped-def]
    host, devices, db, host_key = fleet
    dispatcher = FleetDispatcher(host, [PI], settle_s=0.2)
    dispatcher.wait_ready(5)
    now = time.time()
    job = make_job(job_id="j3", run_id="run", device_id="dev-3", issued_at=now, expires_at=now + 600)
    job = sign_job(job, host_key)
    db.add_jobs([job])
    dispatcher.submit(job)
    reason = "storage error on the device (database or disk is full): the job was not queued"
    devices["dev-3"].publish(refusal_topic("dev-3"), Refusal("dev-3", "job", "j3", reason, time.time()))
    start = time.monotonic()
    collected = collect(dispatcher, [job], 600, Console(file=io.StringIO()))
    assert time.monotonic() - start < 15, "a refused job waited for its deadline"
    [ended] = collected.unanswered
    assert ended.state == "failed" and "disk is full" in ended.reason
    assert db.jobs("run")[0].state == "failed"


def test_the_host_deadline_of_a_job() -> None:
    job = make_job(expires_at=2000.0, deadline_s=100.0)
    assert host_deadline(job, None, grace_s=30) == 2030.0  # never started: its expiry (the device would refuse it)
    assert host_deadline(job, 1500.0, grace_s=30) == 1630.0  # running: its start plus its own deadline
