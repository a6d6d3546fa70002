"""The agent as a service: forged jobs refused, no result lost to a SIGKILL or a broker restart,
and Ctrl-C on the host leaving no orphan and a sound database. Real Mosquitto, real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactRef, BenchmarkJob, encode, job_topic
from agent.signing import SigningKey, create_private_key, load_private_key, sign_job
from calibration_data.loaders import load_dataset
from pipeline.artifact_server import ArtifactServer
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.reference import host_reference, pack_eval
from pipeline.results_db import ResultsDB
from pipeline.store import ArtifactStore

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]
REPO = Path(__file__).resolve().parents[2]
DEVICE = "test-dev"


def wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class AgentProcess:
    """``edgeprof-agent run`` trusting the host key ``host_pub``, with its device key in ``state_dir``."""

    def __init__(
        self, broker_url: str, state_dir: Path, host_pub: Path, python: str = sys.executable, device_id: str = DEVICE
    ) -> None:
        self.cmd = [
            python, "-m", "agent.cli", "run", "--broker", broker_url, "--device-id", device_id,
            "--state-dir", str(state_dir), "--host-key", str(host_pub), "--resend-interval", "1",
        ]  # fmt: skip
        self.state_dir = state_dir
        self.log = state_dir.parent / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            # cwd=REPO: the agent package under test is this checkout's, whichever interpreter runs it
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log, cwd=REPO)
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def outbox_count(self) -> int:
        db = self.state_dir / "agent.db"
        if not db.exists():
            return 0
        with sqlite3.connect(db) as conn:
            try:
                return conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


def enrolled(tmp_path: Path, state_dir: Path) -> tuple[SigningKey, Keyring]:
    """A host key, and a keyring holding the device key created in ``state_dir`` (as keygen + enrol do)."""
    host = load_private_key(tmp_path / "host.key", create=True)
    device = load_private_key(state_dir / "device.key", create=True)
    keyring = Keyring(tmp_path / "devices")
    keyring.add(DEVICE, device.public)
    return host, keyring


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[ArtifactRef, ArtifactRef]]:
    store = ArtifactStore(tmp_path / "store")
    model = store.put_build("onnx", {"model": DEMO_MODEL_PATH}).manifest_object
    data = load_dataset(DEMO_EVAL_PATH)
    small = type(data)(
        inputs={k: v[:64] for k, v in data.inputs.items()}, labels=data.labels[:64], source="", num_samples=64
    )
    ev = pack_eval(store, small, host_reference(DEMO_MODEL_PATH, small))
    with ArtifactServer(store) as server:
        yield (
            ArtifactRef(model.sha256, server.url_for(model.sha256), model.size_bytes, MANIFEST_MEDIA_TYPE),
            ArtifactRef(ev.sha256, server.url_for(ev.sha256), ev.size_bytes, "application/x-npz"),
        )


def make_job(model: ArtifactRef, ev: ArtifactRef, key: SigningKey, min_duration_s: float = 0.5) -> BenchmarkJob:
    now = time.time()
    job = BenchmarkJob(
        job_id=uuid.uuid4().hex, run_id="run-1", variant_id="ort-fp32", device_id=DEVICE, issued_at=now,
        expires_at=now + 300, model=model, runtime="onnxruntime", precision="fp32", batch_sizes=[1],
        eval_data=ev, warmup_s=0.05, min_duration_s=min_duration_s, min_queries=5, deadline_s=120,
    )  # fmt: skip
    return sign_job(job, key)


def test_forged_malformed_and_replayed_jobs_are_refused(tmp_path: Path, mosquitto, served) -> None:  # type: ignore[no-untyped-def]
    model, ev = served
    key, keyring = enrolled(tmp_path, tmp_path / "agent" / "state")
    agent = AgentProcess(mosquitto.url, tmp_path / "agent" / "state", tmp_path / "host.key.pub").start()
    db = ResultsDB(tmp_path / "host.db")
    host = MQTTHost(mosquitto.url, db, key, keyring)
    try:
        host.connect()
        NamedDevices(host, [DEVICE]).wait_ready(30)
        forged = make_job(model, ev, create_private_key(tmp_path / "forger.key"))
        host.send_job(forged)
        host._client.publish(job_topic(DEVICE), b"\x00not json", qos=1).wait_for_publish(5)
        good = make_job(model, ev, key)
        db.add_jobs([good])
        host.send_job(good)
        result = host.results.get(timeout=60)
        assert result.job_id == good.job_id and result.status == "ok"
        host._client.publish(job_topic(DEVICE), encode(good), qos=1).wait_for_publish(5)  # replay
        wait_for(lambda: "replay refused" in agent.log_text(), 15, "the agent to refuse the replay")
        log = agent.log_text()
        assert "bad signature" in log and "not valid UTF-8 JSON" in log
        assert host.results.empty(), "a forged or replayed job produced a result"
        # each refusal came back to the host, signed by the device, and was counted there
        wait_for(lambda: sum("refused job" in r for r in host.rejected) >= 2, 15, "the refusals to reach the host")
        assert any(forged.job_id in r and "bad signature" in r for r in host.rejected)
        assert agent.proc is not None and agent.proc.poll() is None, "a bad message took the agent down"
    finally:
        host.close()
        agent.stop()
        db.close()


def test_a_result_survives_agent_sigkill_and_broker_restart(tmp_path: Path, mosquitto, served) -> None:  # type: ignore[no-untyped-def]
    model, ev = served
    state = tmp_path / "agent" / "state"
    key, keyring = enrolled(tmp_path, state)
    agent = AgentProcess(mosquitto.url, state, tmp_path / "host.key.pub").start()
    job = make_job(model, ev, key)

    # The host sends the job and goes away: nobody will acknowledge the result.
    sender_db = ResultsDB(tmp_path / "sender.db")
    sender = MQTTHost(mosquitto.url, sender_db, key, keyring)
    sender.connect()
    NamedDevices(sender, [DEVICE]).wait_ready(30)
    sender.send_job(job)
    sender.close()
    sender_db.close()
    wait_for(lambda: agent.outbox_count() == 1, 60, "the result to reach the agent's outbox")

    agent.stop(signal.SIGKILL)  # power cut on the device
    mosquitto.stop()  # and the broker restarts
    mosquitto.start()
    agent = AgentProcess(mosquitto.url, state, tmp_path / "host.key.pub").start()

    db = ResultsDB(tmp_path / "host.db")
    db.add_jobs([job])
    host = MQTTHost(mosquitto.url, db, key, keyring)
    try:
        host.connect()
        result = host.results.get(timeout=60)
        assert result.job_id == job.job_id and result.status == "ok"
        assert result.measurements[0].samples > 0
        wait_for(lambda: agent.outbox_count() == 0, 30, "the acknowledged result to leave the outbox")
        assert len(db.results_for_run("run-1")) == 1
    finally:
        host.close()
        agent.stop()
        db.close()


def test_an_agent_on_python_38_serves_a_job(tmp_path: Path, mosquitto, served) -> None:  # type: ignore[no-untyped-def]
    """JetPack 5 ships Python 3.8: the agent's real code path must run there, not only parse."""
    python = os.environ.get("EDGEPROF_TEST_AGENT_PYTHON")
    if not python:
        pytest.skip("EDGEPROF_TEST_AGENT_PYTHON is not set (.ci/run makes a Python 3.8 venv with edgeprof[agent])")
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == "(3, 8)", version
    model, ev = served
    key, keyring = enrolled(tmp_path, tmp_path / "agent" / "state")
    agent = AgentProcess(mosquitto.url, tmp_path / "agent" / "state", tmp_path / "host.key.pub", python=python)
    agent.start()
    db = ResultsDB(tmp_path / "host.db")
    host = MQTTHost(mosquitto.url, db, key, keyring)
    try:
        host.connect()
        NamedDevices(host, [DEVICE]).wait_ready(60)
        job = make_job(model, ev, key)
        db.add_jobs([job])
        host.send_job(job)
        result = host.results.get(timeout=120)
        assert result.status == "ok", result.error
        assert result.environment["python"].startswith("3.8.")
        assert result.accuracy is not None and result.accuracy.top1 is not None and result.accuracy.top1 > 0.9
        assert result.measurements[0].power is not None and result.measurements[0].power.estimated
    finally:
        host.close()
        agent.stop()
        db.close()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(pid))
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_no_orphan_and_a_sound_database(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pipeline.cli", "optimize", str(DEMO_MODEL_PATH), "--calib", str(DEMO_CALIB_PATH),
            "--eval", str(DEMO_EVAL_PATH), "--out", str(out), "--precisions", "fp32,int8-static",
            "--runtimes", "onnxruntime", "--min-duration", "3",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        # a child of a background job inherits SIGINT ignored, and Python then never turns it into
        # KeyboardInterrupt: give the host the disposition a terminal's foreground job has
        preexec_fn=_default_sigint,
    )  # fmt: skip
    log = out / "agent.log"
    first_job = re.compile(r"queued job [0-9a-f]{32}")
    wait_for(lambda: log.exists() and first_job.search(log.read_text(errors="replace")), 120, "the first job")
    time.sleep(1.0)  # mid-measurement
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert b"Traceback" not in stderr
    wait_for(lambda: not _processes_mentioning(str(out)), 15, "the agent and its worker to exit")
    with sqlite3.connect(out / "results.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the message names the real folder, and the saved report names the jobs that never reported
    assert f"edgeprof report {out}" in stderr.decode() and "OUT`" not in stderr.decode()
    doc = json.loads((out / "results.json").read_text())
    assert doc["unfinished"], "the interrupted run's report does not name its unfinished jobs"
    assert {u["variant_id"] for u in doc["unfinished"]} <= {"ort-fp32", "ort-int8-static"}
    assert "interrupted" in doc["unfinished"][0]["reason"]
    assert not list(out.glob(".results.json.*")), "a half-written results.json was left"

    # A second run into the same folder must not first run the interrupted run's leftover jobs (their
    # artifact server is gone): the local agent reports them cancelled and serves this run's jobs.
    first_run = doc["run_id"]
    again = subprocess.run(
        [
            sys.executable, "-m", "pipeline.cli", "optimize", str(DEMO_MODEL_PATH), "--eval", str(DEMO_EVAL_PATH),
            "--out", str(out), "--precisions", "fp32", "--runtimes", "onnxruntime", "--batch", "1",
            "--min-duration", "0.5",
        ],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr + again.stdout
    second = json.loads((out / "results.json").read_text())
    assert second["run_id"] != first_run and not second["failed"] and not second["unfinished"]
    assert {r["variant_id"] for r in second["variants"]} == {"ort-fp32"}
    log_text = log.read_text(errors="replace")
    assert "queued before this start (--cancel-queued)" in log_text
    assert "cannot reach artifact server" not in log_text
