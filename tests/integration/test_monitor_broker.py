"""Monitor mode over MQTT, end to end: a real ``edgeprof-agent monitor --broker`` process publishes its
signed summary to the embedded broker over a real socket, ``edgeprof monitor-summary`` fetches and
verifies it, and the file it writes is the load ``edgeprof report --monitor-summary`` takes. A forged
summary is refused, and an unreachable broker leaves the summary on the device's disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.monitor_publish import MonitorPublisher
from agent.protocol import monitor_topic
from agent.signing import create_private_key
from pipeline.cli import app as host_app
from pipeline.cost import load_utilisation_summary
from pipeline.dispatch.keyring import Keyring

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DEVICE = "mon-dev"


def agent_monitor(
    broker_url: str, state_dir: Path, cwd: Path, *extra: str, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    cmd = [
        python, "-m", "agent.cli", "monitor", "--duration", "1s", "--interval", "200ms",
        "--broker", broker_url, "--device-id", DEVICE, "--state-dir", str(state_dir), *extra,
    ]  # fmt: skip
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def broker_process(tmp_path: Path) -> Iterator[str]:
    """The project's embedded broker (amqtt), in a process of its own: amqtt's shutdown can leave its
    listener for the garbage collector, which pytest then reports against a later test."""
    from pipeline.broker import free_port
    from tests.conftest import _wait_port

    port = free_port()
    code = (
        "import sys, time; from pipeline.broker import EmbeddedBroker; "
        f"EmbeddedBroker({port}).start(); print('up', flush=True); sys.stdin.read()"
    )
    with open(tmp_path / "broker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        if not _wait_port("127.0.0.1", port, 30):
            raise RuntimeError("the embedded broker did not start: " + (tmp_path / "broker.log").read_text())
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stdin is not None
        proc.stdin.close()


def fetch(broker_url: str, keyring: Path, out: Path, wait: str = "5") -> object:
    args = ["monitor-summary", "--broker", broker_url, "--device", DEVICE, "--out", str(out)]
    return CliRunner().invoke(host_app, args + ["--keyring", str(keyring), "--wait", wait])


@pytest.fixture()
def device(tmp_path: Path) -> tuple[Path, Path]:
    """A device state folder with its key, enrolled in a host keyring (as keygen + fleet enrol do)."""
    state = tmp_path / "device-state"
    create_private_key(state / "device.key")
    Keyring(tmp_path / "ring").enrol(DEVICE, state / "device.key.pub")
    (tmp_path / "cwd").mkdir()
    return state, tmp_path / "ring"


def test_the_agent_publishes_and_the_host_fetches_verifies_and_uses_it(
    broker_process: str, device: tuple[Path, Path], tmp_path: Path
) -> None:
    state, ring = device
    # --pid of a busy process: an idle machine's figure can be 0, which the cost model refuses
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        copy = tmp_path / "device-copy.json"
        proc = agent_monitor(broker_process, state, tmp_path / "cwd", "--out", str(copy), "--pid", str(busy.pid))
    finally:
        busy.kill()
        busy.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"published to 127.0.0.1:{broker_process.rsplit(':', 1)[1]} on {monitor_topic(DEVICE)}" in proc.stdout
    assert "retained, acknowledged by the broker" in proc.stdout
    assert not list((tmp_path / "cwd").iterdir()), "a published summary must not leave a fallback file"

    out = tmp_path / "host" / "monitor.json"
    result = fetch(broker_process, ring, out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert f"wrote {out}: utilisation" in result.output and "signature verified" in result.output  # type: ignore[attr-defined]
    fetched = json.loads(out.read_text())
    assert fetched == json.loads((tmp_path / "device-copy.json").read_text())  # what the device measured, as is
    assert fetched["samples"] == 5 and fetched["interval_s"] == 0.2
    utilisation, origin = load_utilisation_summary(out)
    assert utilisation == fetched["utilisation"] and origin.startswith(f"monitor summary {out} over")

    # retained: a second host fetch later still gets it
    again = fetch(broker_process, ring, tmp_path / "again.json")
    assert again.exit_code == 0 and json.loads((tmp_path / "again.json").read_text()) == fetched  # type: ignore[attr-defined]


def test_a_forged_summary_is_refused_and_nothing_is_written(
    broker_process: str, device: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ring = device
    intruder = create_private_key(tmp_path / "intruder.key")  # publishes in the device's name with its own key
    summary = {"utilisation": 0.01, "window_s": 60.0, "samples": 60, "source": "made up"}
    MonitorPublisher(broker_process, DEVICE, intruder, timeout_s=10).publish(summary)
    out = tmp_path / "monitor.json"
    result = fetch(broker_process, ring, out)
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1 and "bad signature" in output and "nothing was written" in output, output  # type: ignore[attr-defined]
    assert not out.exists()


def test_without_a_retained_summary_the_host_times_out_naming_the_fix(
    broker_process: str, device: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ring = device
    out = tmp_path / "monitor.json"
    result = fetch(broker_process, ring, out, wait="1")
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1 and f"no monitor summary of {DEVICE}" in output and "within 1 s" in output
    assert "edgeprof-agent monitor --broker URL" in output and not out.exists()


def test_an_unreachable_broker_leaves_the_summary_on_the_device_and_fails(
    device: tuple[Path, Path], tmp_path: Path
) -> None:
    from pipeline.broker import free_port

    state, _ = device
    proc = agent_monitor(f"mqtt://127.0.0.1:{free_port()}", state, tmp_path / "cwd")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (kept,) = list((tmp_path / "cwd").glob(f"edgeprof-monitor-{DEVICE}-*.json"))
    assert "cannot reach the MQTT broker" in proc.stderr and f"kept in {kept.name}" in proc.stderr
    assert json.loads(kept.read_text())["samples"] == 5


def test_monitor_publishes_from_python_38(broker_process: str, device: tuple[Path, Path], tmp_path: Path) -> None:
    """JetPack 5 ships Python 3.8: the publishing path must run there, not only parse."""
    python = os.environ.get("EDGEPROF_TEST_AGENT_PYTHON")
    if not python:
        pytest.skip("EDGEPROF_TEST_AGENT_PYTHON is not set (.ci/run makes a Python 3.8 venv with edgeprof[agent])")
    state, ring = device
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        proc = agent_monitor(broker_process, state, tmp_path / "cwd", "--pid", str(busy.pid), python=python)
    finally:
        busy.kill()
        busy.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = fetch(broker_process, ring, tmp_path / "m.json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert load_utilisation_summary(tmp_path / "m.json")[0] > 0
