"""The host's MQTT side against a real Mosquitto: who is believed, idempotent storage, bound acks.

A device here is a plain paho client holding a device key, publishing what an agent would publish,
so that forged and malformed messages can be sent too."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.protocol import (
    AgentStatus,
    BenchmarkResult,
    Refusal,
    ResultAck,
    ack_topic,
    decode,
    encode,
    refusal_topic,
    result_topic,
    status_topic,
)
from agent.signing import SigningKey, create_private_key, sign, verify
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError
from pipeline.results_db import ResultsDB


def wait_for(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Device:
    """A fake device on the broker: publishes signed (or forged) messages, records the acks it gets."""

    def __init__(self, url: str, device_id: str, key: SigningKey | None) -> None:
        self.device_id, self.key = device_id, key
        self.acks: list[ResultAck] = []
        port = int(url.rsplit(":", 1)[1])
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-{device_id}", protocol=mqtt.MQTTv311
        )
        self.client.on_message = lambda c, u, m: self.acks.append(decode(ResultAck, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(ack_topic(device_id), qos=1)
        self.client.loop_start()

    def publish(self, topic: str, message: object, key: SigningKey | None = None, retain: bool = False) -> None:
        key = key or self.key
        payload = message if isinstance(message, bytes) else encode(sign(message, key) if key else message)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def online(self, **over: object) -> None:
        self.publish(status_topic(self.device_id), AgentStatus(self.device_id, "online", ts=time.time(), **over))

    def close(self) -> None:
        from agent.mqtt_client import detach

        self.client.disconnect()
        self.client.loop_stop()
        detach(self.client)  # no client <-> callback cycle left for the cyclic GC to close its sockets late


@pytest.fixture()
def setup(tmp_path: Path, mosquitto):  # type: ignore[no-untyped-def]
    host_key = create_private_key(tmp_path / "host.key")
    device_key = create_private_key(tmp_path / "dev-1.key")
    keyring = Keyring(tmp_path / "devices")
    keyring.enrol("dev-1", tmp_path / "dev-1.key.pub")
    db = ResultsDB(tmp_path / "r.db")
    from tests.agent.test_protocol import make_job

    db.add_jobs([make_job(job_id="j", run_id="run", variant_id="v", device_id="dev-1")])
    host = MQTTHost(mosquitto.url, db, host_key, keyring)
    host.connect()
    device = Device(mosquitto.url, "dev-1", device_key)
    yield host, device, db, host_key, device_key
    device.close()
    host.close()
    db.close()


def _result(result_id: str, device_id: str = "dev-1", **over: object) -> BenchmarkResult:
    fields: dict[str, object] = dict(
        result_id=result_id, job_id="j", run_id="run", variant_id="v", device_id=device_id, status="ok",
        runtime="onnxruntime", precision="fp32", started_at=1.0, finished_at=2.0, agent_version="0",
    )  # fmt: skip
    fields.update(over)
    return BenchmarkResult(**fields)  # type: ignore[arg-type]


def test_results_are_stored_once_and_acked_every_time_signed_and_bound(setup) -> None:  # type: ignore[no-untyped-def]
    host, device, db, host_key, _ = setup
    device.online()
    NamedDevices(host, ["dev-1"]).wait_ready(10)
    for n in range(1, 4):  # the agent resends until it sees an ack
        device.publish(result_topic("dev-1"), _result("r-1"))
        assert wait_for(lambda: len(device.acks) == n)  # noqa: B023 - waited for right here
    for ack in device.acks:
        assert ack.result_ids == ["r-1"] and ack.device_id == "dev-1"
        verify(ack, host_key.public, "ack")
    assert len(db.results_for_run("run")) == 1 and host.results.qsize() == 1
    assert "dev-1" in db.devices()
    [job] = db.jobs("run")
    assert job.state == "done" and job.has_result


def test_a_forged_result_first_does_not_cost_the_genuine_one(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On the landed code a keyless client answered the job first: the host stored its numbers, then
    acked the genuine result, which the device deleted, unstored."""
    host, device, db, _, _ = setup
    stranger = create_private_key(tmp_path / "stranger.key")
    fake = _result("r-fake", environment={"notes": ["2,000,000 inf/J, measured with ina3221:VDD_IN"]})
    device.publish(result_topic("dev-1"), fake, key=stranger)  # signed, but not by dev-1's key
    device.publish(result_topic("dev-1"), encode(fake))  # unsigned
    device.publish(result_topic("dev-1"), _result("r-real"))
    assert wait_for(lambda: host.results.qsize() == 1)
    assert host.results.get().result_id == "r-real"
    assert [decode(BenchmarkResult, p).result_id for p in db.results_for_run("run")] == ["r-real"]
    assert wait_for(lambda: [a.result_ids for a in device.acks] == [["r-real"]])
    assert host.refused["bad_signature"] == 1 and host.refused["not_signed"] == 1


def test_messages_in_another_devices_name_and_malformed_ones_are_refused(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host, device, db, _, _ = setup
    device.publish(result_topic("dev-1"), _result("r-2", device_id="dev-2"))
    device.publish(result_topic("dev-1"), b"{not json")
    device.publish(result_topic("dev-1"), _result("r-3", job_id="never-issued"))
    # a result whose environment.notes is a number crashed `optimize` and `report` on the landed code;
    # here even signed by the device's own key it is refused, not stored
    import json

    from agent.signing import signed_bytes

    body = json.loads(encode(_result("r-4")))
    body["environment"] = {"notes": 7}
    canonical = json.dumps({k: v for k, v in body.items() if k != "signature"}, sort_keys=True, separators=(",", ":"))
    domain = signed_bytes(_result("r-4")).split(b"\n", 2)
    body["signature"] = device.key.sign_bytes(domain[0] + b"\n" + domain[1] + b"\n" + canonical.encode())
    device.publish(result_topic("dev-1"), json.dumps(body).encode())
    assert wait_for(lambda: len(host.rejected) == 4)
    for phrase in ("published on dev-1's topic", "not valid UTF-8 JSON", "not issued by this host",
                   "environment.notes must be a list"):  # fmt: skip
        assert any(phrase in r for r in host.rejected), (phrase, host.rejected)
    assert db.results_for_run("run") == [] and device.acks == []


def test_status_from_a_device_without_an_enrolled_key_is_refused(setup, mosquitto, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A spoofed retained 'online' status for a device that does not exist made the landed host wait on it."""
    host, device, _, _, _ = setup
    ghost = Device(mosquitto.url, "ghost", create_private_key(tmp_path / "ghost.key"))
    try:
        ghost.publish(status_topic("ghost"), AgentStatus("ghost", "online", ts=time.time()), retain=True)
        assert wait_for(lambda: "ghost" in host.unverified_snapshot())
        assert "ghost" not in host.devices_snapshot()
        with pytest.raises(DispatchError, match="no enrolled key.*edgeprof fleet enrol ghost"):
            NamedDevices(host, ["ghost"]).wait_ready(0.5)
    finally:
        ghost.publish(status_topic("ghost"), b"", retain=True)
        ghost.close()


def test_a_status_of_another_protocol_version_is_refused_with_a_clear_line(setup) -> None:  # type: ignore[no-untyped-def]
    host, device, _, _, _ = setup
    device.online(protocol_version=99)
    assert wait_for(lambda: "dev-1" in host.unverified_snapshot())
    assert "protocol 99" in host.unverified_snapshot()["dev-1"] and "upgrade" in host.unverified_snapshot()["dev-1"]
    assert "dev-1" not in host.devices_snapshot()


def test_a_device_trusting_another_host_key_is_an_error_at_once(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host, device, _, host_key, _ = setup
    old = create_private_key(tmp_path / "old-host.key")
    device.online(host_key=old.public.fingerprint)
    start = time.monotonic()
    with pytest.raises(DispatchError, match=f"trusts host key {old.public.fingerprint}.*edgeprof-agent enrol"):
        NamedDevices(host, ["dev-1"]).wait_ready(30)
    assert time.monotonic() - start < 10, "a key mistake waited for the timeout"


def test_a_refusal_fails_its_job_at_once(setup) -> None:  # type: ignore[no-untyped-def]
    host, device, db, _, _ = setup
    reason = "job j has a bad signature: it was not issued by the host whose public key this device holds"
    device.publish(refusal_topic("dev-1"), Refusal("dev-1", "job", "j", reason, time.time()))
    assert wait_for(lambda: not host.events.empty())
    event = host.events.get()
    assert (event.job_id, event.state) == ("j", "failed") and "refused by dev-1" in event.detail
    [job] = db.jobs("run")
    assert job.state == "failed" and "bad signature" in job.detail


def test_a_burst_is_stored_in_batches_each_result_once(setup) -> None:  # type: ignore[no-untyped-def]
    host, device, db, _, device_key = setup
    from tests.agent.test_protocol import make_job

    jobs = [make_job(job_id=f"b{i}", run_id="burst", variant_id="v", device_id="dev-1") for i in range(300)]
    db.add_jobs(jobs)
    payloads = [encode(sign(_result(f"rb{i}", job_id=f"b{i}", run_id="burst"), device_key)) for i in range(300)]
    for p in payloads + payloads[:50]:  # 50 resends mixed in
        device.client.publish(result_topic("dev-1"), p, qos=1)
    expected = {f"rb{i}" for i in range(300)}
    assert wait_for(lambda: {i for a in device.acks for i in a.result_ids} == expected, 30)
    assert len(db.results_for_run("burst")) == 300 and host.stored_count == 300
    assert len(device.acks) < 300, "every result was acked on its own: no batching"


def test_a_backlog_arrives_in_signed_batches_and_a_forged_batch_is_refused(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.protocol import ResultBatch, batch_topic
    from tests.agent.test_protocol import make_job

    host, device, db, _, device_key = setup
    db.add_jobs([make_job(job_id=f"k{i}", run_id="batch", variant_id="v", device_id="dev-1") for i in range(3)])
    results = [sign(_result(f"rk{i}", job_id=f"k{i}", run_id="batch"), device_key) for i in range(3)]
    stranger = create_private_key(tmp_path / "stranger.key")
    device.publish(batch_topic("dev-1"), ResultBatch("dev-1", results, time.time()), key=stranger)
    device.publish(batch_topic("dev-1"), ResultBatch("dev-1", results, time.time()))
    assert wait_for(lambda: len(db.results_for_run("batch")) == 3)
    assert wait_for(lambda: {i for a in device.acks for i in a.result_ids} == {"rk0", "rk1", "rk2"})
    assert len(device.acks) == 1, "a batch is acknowledged in one message"
    assert any("result batch from dev-1 has a bad signature" in r for r in host.rejected)
    stored = [decode(BenchmarkResult, p) for p in db.results_for_run("batch")]
    for r in stored:  # each stored as the device signed it, its own signature intact
        verify(r, device_key.public, "result")


def test_a_stored_result_that_no_longer_decodes_does_not_break_the_report(tmp_path) -> None:
    from pipeline.run_summary import _readable_results

    good = encode(_result("r-1")).decode()
    bad = dataclasses.asdict(_result("r-2"))
    bad["environment"] = {"notes": 7}
    import json

    results, failures = _readable_results([good, json.dumps(bad)])
    assert [r.result_id for r in results] == ["r-1"]
    assert failures[0].variant_id == "v" and "environment.notes" in failures[0].error
