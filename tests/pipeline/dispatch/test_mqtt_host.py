"""The host's MQTT side against the embedded broker: presence, idempotent storage, acks."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt

from agent.protocol import (
    AgentStatus,
    BenchmarkResult,
    ResultAck,
    ack_topic,
    decode,
    encode,
    result_topic,
    status_topic,
)
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.results_db import ResultsDB


def _device_client(url: str) -> tuple[mqtt.Client, list[bytes]]:
    port = int(url.rsplit(":", 1)[1])
    acks: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-device", protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, m: acks.append(m.payload)
    client.connect("127.0.0.1", port)
    client.subscribe(ack_topic("dev-1"), qos=1)
    client.loop_start()
    return client, acks


def _issue(db: ResultsDB, job_id: str = "j", device_id: str = "dev-1") -> None:
    from tests.agent.test_protocol import make_job

    db.add_jobs([make_job(job_id=job_id, run_id="run", variant_id="v", device_id=device_id)])


def _result(result_id: str, device_id: str = "dev-1") -> BenchmarkResult:
    return BenchmarkResult(
        result_id=result_id, job_id="j", run_id="run", variant_id="v", device_id=device_id, status="ok",
        runtime="onnxruntime", precision="fp32", started_at=1.0, finished_at=2.0, agent_version="0",
    )  # fmt: skip


def test_results_are_stored_once_and_acked_every_time(tmp_path, embedded_broker) -> None:  # type: ignore[no-untyped-def]
    db = ResultsDB(tmp_path / "r.db")
    _issue(db)
    host = MQTTHost(embedded_broker, db, None)
    host.connect()
    device, acks = _device_client(embedded_broker)
    try:
        device.publish(status_topic("dev-1"), encode(AgentStatus("dev-1", "online")), qos=1, retain=True)
        NamedDevices(host, ["dev-1"]).wait_ready(10)
        payload = encode(_result("r-1"))
        for _ in range(3):  # the agent resends until it sees an ack
            device.publish(result_topic("dev-1"), payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while len(acks) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acks) == 3 and decode(ResultAck, acks[0]).result_ids == ["r-1"]
        assert len(db.results_for_run("run")) == 1
        assert host.results.qsize() == 1
        assert "dev-1" in db.devices()
    finally:
        device.loop_stop()
        device.disconnect()
        host.close()
        db.close()


def test_a_result_on_another_devices_topic_is_refused(tmp_path, embedded_broker) -> None:  # type: ignore[no-untyped-def]
    db = ResultsDB(tmp_path / "r.db")
    host = MQTTHost(embedded_broker, db, None)
    host.connect()
    device, acks = _device_client(embedded_broker)
    try:
        device.publish(result_topic("dev-1"), encode(_result("r-2", device_id="dev-2")), qos=1).wait_for_publish(5)
        device.publish(result_topic("dev-1"), b"{not json", qos=1).wait_for_publish(5)
        # well formed, on the right topic, but for a job this host never issued (another host's, or forged)
        device.publish(result_topic("dev-1"), encode(_result("r-3")), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while len(host.rejected) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(host.rejected) == 3 and "not issued by this host" in host.rejected[2]
        assert db.results_for_run("run") == [] and acks == []
    finally:
        device.loop_stop()
        device.disconnect()
        host.close()
        db.close()
