"""The config ``edgeprof-agent install`` writes, served by ``run --config`` against a real Mosquitto.

What the service unit runs is exactly ``run --config FILE``: the agent started that way must come
up under the config's device id, state folder, host key and log file, and a flag must win over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.install import install
from agent.mqtt_client import make_client
from agent.protocol import AgentStatus, decode, parse_broker_url, status_topic
from agent.signing import create_private_key, load_public_key, verify

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]
REPO = Path(__file__).resolve().parents[2]


def first_online_status(
    broker_url: str, device_id: str, proc: subprocess.Popen, timeout_s: float = 30.0
) -> AgentStatus:  # type: ignore[type-arg]
    got: list[AgentStatus] = []
    arrived = threading.Event()

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        status = decode(AgentStatus, msg.payload)
        if status.state == "online":
            got.append(status)
            arrived.set()

    client = make_client(parse_broker_url(broker_url), f"test-watch-{device_id}", clean_session=True)
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(status_topic(device_id), 1)
    client.connect(parse_broker_url(broker_url)["host"], parse_broker_url(broker_url)["port"])
    client.loop_start()
    try:
        end = time.monotonic() + timeout_s
        while not arrived.wait(0.2):
            assert proc.poll() is None, f"the agent exited with {proc.returncode}"
            assert time.monotonic() < end, f"no online status from {device_id} within {timeout_s:.0f} s"
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0]


@pytest.fixture(params=["this", "3.8"])
def python(request) -> str:  # type: ignore[no-untyped-def]
    """This interpreter, and the Python 3.8 agent's (older typer and click there: the options arrive
    as click converted them, which once broke ``--config``)."""
    if request.param == "this":
        return sys.executable
    agent_python = os.environ.get("EDGEPROF_TEST_AGENT_PYTHON")
    if not agent_python:
        pytest.skip("EDGEPROF_TEST_AGENT_PYTHON is not set (.ci/run makes a Python 3.8 venv with edgeprof[agent])")
    return agent_python


def test_run_config_serves_as_installed_and_flags_win(tmp_path: Path, mosquitto, python: str) -> None:  # type: ignore[no-untyped-def]
    host = create_private_key(tmp_path / "host.key")
    root = tmp_path / "root"
    done = install(mosquitto.url, "jet-01", tmp_path / "host.key.pub", root=root)
    state = root / "var/lib/edgeprof"
    base = [python, "-m", "agent.cli", "run", "--config", str(done.config)]
    for extra, device_id in (
        ([], "jet-01"),
        (["--device-id", "jet-02", "--host-key", str(state / "host.pub")], "jet-02"),
    ):
        with open(tmp_path / f"agent-{device_id}.stderr", "wb") as err:
            proc = subprocess.Popen(base + extra, stdout=err, stderr=err, cwd=REPO)
        try:
            status = first_online_status(mosquitto.url, device_id, proc)
        finally:
            proc.terminate()
            assert proc.wait(20) == 0
        verify(status, load_public_key(done.public_key), "status")  # signed with the installed device key
        assert status.host_key == host.public.fingerprint  # trusts the installed host key
    assert (state / "agent.db").exists()  # the config's state folder, not the default one
    lines = [json.loads(line) for line in done.log_file.read_text().splitlines()]
    assert {line["device_id"] for line in lines} == {"jet-01", "jet-02"}
    assert any(line["event"] == "agent stopped" for line in lines)
    assert all({"ts", "level", "event", "message"} <= set(line) for line in lines)
