"""Faults that hit one device of a fleet: its link cut mid-benchmark while another keeps working, and
an oversized message. Real Mosquitto, real agent processes, the host's real MQTTHost.

The link is cut by a TCP proxy between that one agent and the broker (it closes the agent's
connections and refuses new ones for CUT_S, as a dropped Wi-Fi link with the router still
answering does): it needs no root and no network namespaces, so it runs everywhere the rest does.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.protocol import MAX_PAYLOAD_BYTES, job_topic, parse_broker_url
from agent.signing import load_private_key, sign_job
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.results_db import ResultsDB
from tests.integration import test_agent_resilience as resilience
from tests.integration.test_agent_resilience import AgentProcess, make_job, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]
served = resilience.served  # the demo model and eval data on a real artifact server (a fixture)
#: The issue's figure: one device's link down for 30 s mid-benchmark.
CUT_S = 30.0


class CuttableLink:
    """A TCP proxy from a local port to the broker; :meth:`cut` drops the link, :meth:`restore` mends it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = True
        self.cuts = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the link is down: the agent's reconnect fails
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while self.up:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self) -> None:
        self.up = False
        self.cuts += 1
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_one_link_cut_mid_benchmark_loses_nothing_and_spares_the_other(tmp_path: Path, mosquitto, served) -> None:  # type: ignore[no-untyped-def]
    model, ev = served
    host_key = load_private_key(tmp_path / "host.key", create=True)
    keyring = Keyring(tmp_path / "devices")
    agents = {}
    broker = parse_broker_url(mosquitto.url)
    link = CuttableLink(broker["host"], broker["port"])
    for device_id, url in (("dev-cut", f"mqtt://127.0.0.1:{link.port}"), ("dev-ok", mosquitto.url)):
        state = tmp_path / device_id / "state"
        keyring.add(device_id, load_private_key(state / "device.key", create=True).public)
        agents[device_id] = AgentProcess(url, state, tmp_path / "host.key.pub", device_id=device_id).start()
    db = ResultsDB(tmp_path / "host.db")
    host = MQTTHost(mosquitto.url, db, host_key, keyring)

    def job_for(device_id: str, min_duration_s: float):  # type: ignore[no-untyped-def]
        job = make_job(model, ev, host_key, min_duration_s=min_duration_s)
        return sign_job(dataclasses.replace(job, device_id=device_id, signature=""), host_key)

    def state_of(job_id: str) -> str:
        return next(j.state for j in db.jobs("run-1") if j.job_id == job_id)

    try:
        host.connect()
        NamedDevices(host, list(agents)).wait_ready(30)
        long_job = job_for("dev-cut", 8.0)
        db.add_jobs([long_job])
        host.send_job(long_job)
        wait_for(lambda: state_of(long_job.job_id) == "running", 60, "dev-cut to start benchmarking")
        link.cut()  # mid-benchmark
        cut_at = time.monotonic()
        other = job_for("dev-ok", 0.5)
        db.add_jobs([other])
        host.send_job(other)
        first = host.results.get(timeout=CUT_S)
        assert first.job_id == other.job_id, "the device whose link is up was held up by the other's cut"
        wait_for(lambda: agents["dev-cut"].outbox_count() == 1, 60, "dev-cut to finish its job offline")
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
        link.restore()
        second = host.results.get(timeout=90)  # paho's reconnect backs off up to 30 s
        assert second.job_id == long_job.job_id and second.status == "ok"
        wait_for(lambda: agents["dev-cut"].outbox_count() == 0, 30, "the acknowledged result to leave the outbox")
        time.sleep(2.0)  # any resend would arrive now
        rows = db._db.execute("SELECT job_id, COUNT(*) FROM results GROUP BY job_id").fetchall()
        assert sorted(rows) == sorted([(long_job.job_id, 1), (other.job_id, 1)]), rows
        assert db._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "lost the broker" in agents["dev-cut"].log_text()
        assert "lost the broker" not in agents["dev-ok"].log_text()

        # an oversized message on the job topic is refused, counted and reported; the agent stays up
        big = b'{"pad": "' + b"x" * (MAX_PAYLOAD_BYTES + 10) + b'"}'
        host._client.publish(job_topic("dev-ok"), big, qos=1).wait_for_publish(10)
        wait_for(
            lambda: any("dev-ok refused job" in r and "exceeds the" in r for r in host.rejected), 20, "the refusal"
        )
        assert all(a.proc is not None and a.proc.poll() is None for a in agents.values()), "an agent died"
    finally:
        host.close()
        link.close()
        for agent in agents.values():
            agent.stop()
        db.close()


def hanging_model(path: Path) -> Path:
    """An ONNX model whose one inference never ends: a Loop of 10^15 additions."""
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "body",
        [
            value("i", TensorProto.INT64, []),
            value("cond_in", TensorProto.BOOL, []),
            value("x_in", TensorProto.FLOAT, [1, 4]),
        ],
        [value("cond_out", TensorProto.BOOL, []), value("x_out", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body)],
        "hang",
        [value("x", TensorProto.FLOAT, [1, 4])],
        [value("y", TensorProto.FLOAT, [1, 4])],
        [
            helper.make_tensor("trip", TensorProto.INT64, [], [10**15]),
            helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_hanging_model_is_killed_at_its_deadline_and_the_agent_serves_the_next_job(
    tmp_path: Path, mosquitto, served
) -> None:  # type: ignore[no-untyped-def]
    from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactRef
    from pipeline.artifact_server import ArtifactServer
    from pipeline.store import ArtifactStore

    model, ev = served
    host_key = load_private_key(tmp_path / "host.key", create=True)
    state = tmp_path / "agent" / "state"
    keyring = Keyring(tmp_path / "devices")
    keyring.add(resilience.DEVICE, load_private_key(state / "device.key", create=True).public)
    agent = AgentProcess(mosquitto.url, state, tmp_path / "host.key.pub").start()
    store = ArtifactStore(tmp_path / "hang-store")
    built = store.put_build("onnx", {"model": hanging_model(tmp_path / "hang.onnx")}).manifest_object
    db = ResultsDB(tmp_path / "host.db")
    host = MQTTHost(mosquitto.url, db, host_key, keyring)
    try:
        with ArtifactServer(store) as server:
            ref = ArtifactRef(built.sha256, server.url_for(built.sha256), built.size_bytes, MANIFEST_MEDIA_TYPE)
            unsigned = dataclasses.replace(make_job(model, ev, host_key), model=ref, eval_data=None, deadline_s=8)
            hang = sign_job(dataclasses.replace(unsigned, signature=""), host_key)
            good = make_job(model, ev, host_key)
            db.add_jobs([hang, good])
            host.connect()
            NamedDevices(host, [resilience.DEVICE]).wait_ready(30)
            started = time.monotonic()
            host.send_job(hang)
            host.send_job(good)
            first = host.results.get(timeout=60)
        took = time.monotonic() - started
        assert first.job_id == hang.job_id and first.status == "failed"
        assert "ran past its deadline of 8 s and was killed" in first.error, first.error
        assert took < 30, f"the hanging job held the agent {took:.0f} s for a deadline of 8 s"
        second = host.results.get(timeout=60)
        assert second.job_id == good.job_id and second.status == "ok"  # the agent was not stuck
        wait_for(lambda: agent.outbox_count() == 0, 30, "both results to be acknowledged")
        assert [(r[0], r[1]) for r in db._db.execute("SELECT job_id, COUNT(*) FROM results GROUP BY job_id")] == sorted(
            [(hang.job_id, 1), (good.job_id, 1)]
        )
        leftover = subprocess.run(["pgrep", "-f", f"agent.worker {state}"], capture_output=True, text=True)
        assert leftover.stdout.strip() == "", "the killed benchmark process is still running"
        assert agent.proc is not None and agent.proc.poll() is None
    finally:
        host.close()
        agent.stop()
        db.close()
