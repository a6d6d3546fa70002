"""A fleet run as a user sets it up: `edgeprof keygen`, `edgeprof-agent enrol` and `edgeprof fleet enrol`
for two agents announcing one profile, then `edgeprof optimize --targets PROFILE`: each build measured
once, spread over both devices, through a real Mosquitto. Then the client-id takeover of the issue:
a client connecting as the device's old client id receives none of its queued jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH
from tests.integration.test_agent_resilience import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]
REPO = Path(__file__).resolve().parents[2]
PROFILE = "generic-x86_64"


def cli(*args: str, agent: bool = False) -> subprocess.CompletedProcess[str]:
    module = "agent.cli" if agent else "pipeline.cli"
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )


def test_optimize_spreads_a_profile_over_its_enrolled_devices(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    host_key = tmp_path / "host.key"
    ring = tmp_path / "devices"
    assert cli("keygen", str(host_key)).returncode == 0
    agents = []
    try:
        for device_id in ("box-1", "box-2"):
            state = tmp_path / device_id
            enrol = cli("enrol", "--host-key", f"{host_key}.pub", "--state-dir", str(state), "--create-key",
                        "--device-id", device_id, agent=True)  # fmt: skip
            assert enrol.returncode == 0, enrol.stderr
            fleet_enrol = cli("fleet", "enrol", device_id, str(state / "device.key.pub"), "--keyring", str(ring))
            assert fleet_enrol.returncode == 0, fleet_enrol.stderr
            log = open(tmp_path / f"{device_id}.log", "wb")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "run", "--broker", mosquitto.url, "--device-id", device_id,
                 "--state-dir", str(state), "--target", PROFILE],
                stdout=log, stderr=log, cwd=REPO,
            )  # fmt: skip
            agents.append((proc, log))
        listing = cli("fleet", "ls", "--broker", mosquitto.url, "--keyring", str(ring), "--wait", "3")
        assert listing.returncode == 0 and listing.stdout.count("verified") == 2, listing.stdout + listing.stderr
        out = tmp_path / "out"
        run = cli(
            "optimize", str(DEMO_MODEL_PATH), "--eval", str(DEMO_EVAL_PATH), "--out", str(out),
            "--precisions", "fp32,fp16", "--runtimes", "onnxruntime", "--batch", "1", "--min-duration", "0.5",
            "--warmup", "0.05",
            "--broker", mosquitto.url, "--targets", PROFILE, "--host-key", str(host_key), "--keyring", str(ring),
            "--serve-host", "0.0.0.0", "--advertise-host", "127.0.0.1",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr + run.stdout
        doc = json.loads((out / "results.json").read_text())
        by_variant = {r["variant_id"]: r["device_id"] for r in doc["variants"]}
        assert set(by_variant) == {"ort-fp32", "ort-fp16"} and len(doc["variants"]) == 2, "a build measured twice"
        assert set(by_variant.values()) == {"box-1", "box-2"}, "the builds were not spread over the profile"
        # both agents run on this one machine: their records must say they are not independent
        for record in doc["variants"]:
            assert any("shares one machine" in n for n in record["notes"]), record["notes"]
    finally:
        for proc, log in agents:
            proc.terminate()
            proc.wait(20)
            log.close()


def test_a_client_taking_the_devices_old_client_id_gets_none_of_its_jobs(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    """On the landed code a client connecting as `edgeprof-agent-<id>` with a persistent session received
    a job queued for that offline device. The agent's client id is now derived from its private key."""
    from agent.protocol import job_topic
    from agent.signing import create_private_key, load_private_key

    host_key = create_private_key(tmp_path / "host.key")
    state = tmp_path / "state"
    load_private_key(state / "device.key", create=True)
    cmd = [sys.executable, "-m", "agent.cli", "run", "--broker", mosquitto.url, "--device-id", "dev-t",
           "--state-dir", str(state), "--host-key", f"{host_key.path}.pub", "--target", PROFILE]  # fmt: skip
    log = tmp_path / "agent.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=REPO)
    wait_for(lambda: "connected to" in log.read_text(errors="replace"), 60, "the agent to connect")
    proc.terminate()
    proc.wait(20)  # offline now, its persistent session holds what is published for it

    port = int(mosquitto.url.rsplit(":", 1)[1])
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub", protocol=mqtt.MQTTv311)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    publisher.publish(job_topic("dev-t"), b'{"queued": "for dev-t"}', qos=1).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()

    got: list[bytes] = []
    thief = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="edgeprof-agent-dev-t", clean_session=False,
        protocol=mqtt.MQTTv311,
    )  # fmt: skip
    thief.on_message = lambda c, u, m: got.append(m.payload)
    thief.connect("127.0.0.1", port)
    thief.loop_start()
    time.sleep(2)
    thief.disconnect()
    thief.loop_stop()
    thief.on_message = None
    assert got == [], "a client with the device's guessable client id received its queued job"

    with open(log, "ab") as fh:  # the genuine agent, back, receives it (and refuses it: it is no signed job)
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=REPO)
    try:
        wait_for(lambda: "refused a job" in log.read_text(errors="replace"), 60, "the queued message to arrive")
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_killed_host_collects_the_results_still_in_flight(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the host mid-measurement: the device keeps its result; `edgeprof fleet collect OUT` stores it
    (exactly once), acknowledges it, and rebuilds the report."""
    import signal

    from tests.integration.test_agent_resilience import AgentProcess

    host_key, ring, state = tmp_path / "host.key", tmp_path / "devices", tmp_path / "box" / "state"
    assert cli("keygen", str(host_key)).returncode == 0
    enrol = cli("enrol", "--host-key", f"{host_key}.pub", "--state-dir", str(state), "--create-key", agent=True)
    assert enrol.returncode == 0, enrol.stderr
    assert cli("fleet", "enrol", "test-dev", str(state / "device.key.pub"), "--keyring", str(ring)).returncode == 0
    agent = AgentProcess(mosquitto.url, state, Path(f"{host_key}.pub")).start()
    out = tmp_path / "out"
    host = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "optimize", str(DEMO_MODEL_PATH), "--eval", str(DEMO_EVAL_PATH),
         "--out", str(out), "--precisions", "fp32", "--runtimes", "onnxruntime", "--batch", "1",
         "--min-duration", "4", "--broker", mosquitto.url,
         "--devices", "test-dev", "--host-key", str(host_key), "--keyring", str(ring),
         "--serve-host", "0.0.0.0", "--advertise-host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    try:
        # the benchmark child has its spec once every download is done: then the host dies
        wait_for(lambda: list((state / "work").glob("*/spec.json")), 180, "the job to start on the device")
        host.send_signal(signal.SIGKILL)
        host.wait(10)
        wait_for(lambda: agent.outbox_count() == 1, 120, "the result to wait in the device's outbox")
        late = cli("fleet", "collect", str(out), "--broker", mosquitto.url, "--host-key", str(host_key),
                   "--keyring", str(ring), "--wait", "60")  # fmt: skip
        assert late.returncode == 0, late.stderr + late.stdout
        doc = json.loads((out / "results.json").read_text())
        assert [(r["variant_id"], r["device_id"]) for r in doc["variants"]] == [("ort-fp32", "test-dev")]
        assert doc["unfinished"] == []
        wait_for(lambda: agent.outbox_count() == 0, 30, "the acknowledged result to leave the outbox")
    finally:
        if host.poll() is None:
            host.kill()
        agent.stop()
