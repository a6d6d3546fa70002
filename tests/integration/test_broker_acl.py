"""The shipped Mosquitto configuration (scripts/mosquitto/): per-device users and an ACL under which a
device cannot publish a result or a status in another device's name, nor read another device's jobs.

A real Mosquitto runs ``scripts/mosquitto/mosquitto.conf`` with only its paths and port changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.mqtt_client import broker_security, read_credentials_file
from agent.protocol import AgentStatus, BenchmarkResult, encode, job_topic, parse_broker_url, result_topic, status_topic
from agent.signing import create_private_key, sign, sign_job
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.results_db import ResultsDB
from tests.agent.test_protocol import make_job

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]
REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "scripts" / "mosquitto"


@pytest.fixture()
def secured(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Mosquitto with the shipped config; yields its URL and the folder of credential files."""
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto and mosquitto_passwd are not installed (apt-get install mosquitto)")
    from pipeline.broker import free_port

    # Mosquitto started as root reads the password file after dropping to its own user, which cannot
    # enter pytest's tmp_path (mode 700): a folder of its own, directly under the temp root.
    work = Path(tempfile.mkdtemp(prefix="edgeprof-mq-"))
    os.chmod(work, 0o777)
    port = free_port()
    for user in ("edgeprof-host", "dev-a", "dev-b"):
        subprocess.run(
            ["bash", str(SHIPPED / "add-user.sh"), str(work / "passwd"), user, str(work / f"{user}.credentials")],
            check=True,
            capture_output=True,
        )
    shutil.copy(SHIPPED / "edgeprof.acl", work / "edgeprof.acl")
    conf = (SHIPPED / "mosquitto.conf").read_text()
    conf = conf.replace("/etc/mosquitto/edgeprof.passwd", str(work / "passwd"))
    conf = conf.replace("/etc/mosquitto/edgeprof.acl", str(work / "edgeprof.acl"))
    conf = conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    conf = conf.replace("/var/lib/mosquitto/", f"{work}/")
    assert f"listener {port} 127.0.0.1" in conf and str(work / "passwd") in conf
    (work / "mosquitto.conf").write_text(conf + "log_dest stderr\n")
    for name in ("passwd", "edgeprof.acl", "mosquitto.conf"):
        os.chmod(work / name, 0o644)
    with open(work / "mosquitto.log", "wb") as log:
        proc = subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        from tests.conftest import _wait_port

        if not _wait_port("127.0.0.1", port):
            raise RuntimeError("mosquitto did not start: " + (work / "mosquitto.log").read_text())
        yield f"mqtt://127.0.0.1:{port}", work
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def client_for(url: str, creds: Path | None, client_id: str) -> tuple[mqtt.Client, list[tuple[str, bytes]], int]:
    """A connected paho client logged in with ``creds`` (None: anonymous); what it receives; the CONNACK code."""
    port = int(url.rsplit(":", 1)[1])
    got: list[tuple[str, bytes]] = []
    codes: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if creds is not None:
        c = read_credentials_file(creds)
        client.username_pw_set(c["username"], c["password"])
    client.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    client.on_connect = lambda cl, u, f, rc, p: codes.append(rc.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    end = time.monotonic() + 10
    while not codes and time.monotonic() < end:
        time.sleep(0.05)
    return client, got, codes[0] if codes else -1


def test_a_device_cannot_speak_or_listen_in_another_devices_name(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, creds = secured
    host_key = create_private_key(tmp_path / "host.key")
    key_a = create_private_key(tmp_path / "a.key")
    key_b = create_private_key(tmp_path / "b.key")
    keyring = Keyring(tmp_path / "devices")
    keyring.add("dev-a", key_a.public)
    keyring.add("dev-b", key_b.public)
    db = ResultsDB(tmp_path / "r.db")
    job_b = sign_job(make_job(job_id="jb", run_id="run", device_id="dev-b", expires_at=time.time() + 600), host_key)
    db.add_jobs([job_b])
    security = broker_security(parse_broker_url(url), creds / "edgeprof-host.credentials")
    host = MQTTHost(url, db, host_key, keyring, security)
    host.connect()
    dev_a, got_a, rc_a = client_for(url, creds / "dev-a.credentials", "a")
    dev_b, got_b, rc_b = client_for(url, creds / "dev-b.credentials", "b")
    anonymous, _, rc_anon = client_for(url, None, "anon")
    try:
        assert rc_a == rc_b == 0
        assert rc_anon != 0, "the shipped config let an anonymous client in"
        dev_a.subscribe(job_topic("dev-b"), qos=1)  # allowed to subscribe, but must receive nothing
        dev_b.subscribe(job_topic("dev-b"), qos=1)
        time.sleep(0.5)

        # dev-a speaks in dev-b's name: a status and a result for dev-b's job
        forged = BenchmarkResult("r-forged", "jb", "run", "ort-fp32", "dev-b", "ok", "onnxruntime", "fp32", 1, 2, "0")
        dev_a.publish(result_topic("dev-b"), encode(sign(forged, key_a)), qos=1).wait_for_publish(5)
        dev_a.publish(status_topic("dev-b"), encode(sign(AgentStatus("dev-b", "online", ts=time.time()), key_a)), qos=1)
        # then dev-b speaks for itself: it gets through, so anything dev-a's had would have too
        own = AgentStatus("dev-b", "online", ts=time.time(), hostname="b")
        dev_b.publish(status_topic("dev-b"), encode(sign(own, key_b)), qos=1).wait_for_publish(5)
        host.send_job(job_b)
        end = time.monotonic() + 10
        while ("dev-b" not in host.devices_snapshot() or not got_b) and time.monotonic() < end:
            time.sleep(0.05)
        assert host.devices_snapshot()["dev-b"].hostname == "b"
        assert host.rejected == [], "a message dev-a published in dev-b's name reached the host"
        assert db.results_for_run("run") == []
        assert [t for t, _ in got_b] == [job_topic("dev-b")]
        assert got_a == [], "dev-a read dev-b's job"
    finally:
        from agent.mqtt_client import detach

        for c in (dev_a, dev_b, anonymous):
            c.disconnect()
            c.loop_stop()
            detach(c)
        host.close()
        db.close()


def test_a_device_publishes_its_own_monitor_summary_only_and_only_the_host_reads_them(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from agent.monitor_publish import MonitorPublisher
    from pipeline.errors import PipelineError
    from pipeline.monitor_fetch import fetch_summary

    url, creds = secured
    key_a = create_private_key(tmp_path / "a.key")
    keyring = Keyring(tmp_path / "devices")
    keyring.add("dev-a", key_a.public)
    keyring.add("dev-b", create_private_key(tmp_path / "b.key").public)
    sec = {
        u: broker_security(parse_broker_url(url), creds / f"{u}.credentials")
        for u in ("edgeprof-host", "dev-a", "dev-b")
    }
    summary = {"utilisation": 0.3, "window_s": 60.0, "samples": 60, "source": "/proc/stat"}

    MonitorPublisher(url, "dev-a", key_a, sec["dev-a"], timeout_s=10).publish(summary)
    assert fetch_summary(url, "dev-a", keyring, 5, sec["edgeprof-host"]).summary == summary
    # another device cannot read it (the ACL gives devices no read on monitor topics)
    with pytest.raises(PipelineError, match="no monitor summary of dev-a"):
        fetch_summary(url, "dev-a", keyring, 1, sec["dev-b"])
    # dev-a in dev-b's name: MQTT 3.1.1 has no way to say no, so Mosquitto acknowledges and drops it
    MonitorPublisher(url, "dev-b", key_a, sec["dev-a"], timeout_s=10).publish(dict(summary, utilisation=0.01))
    with pytest.raises(PipelineError, match="no monitor summary of dev-b"):
        fetch_summary(url, "dev-b", keyring, 1, sec["edgeprof-host"])
