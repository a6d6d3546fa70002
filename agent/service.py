"""The agent's main loop: MQTT in, verified jobs queued durably, one child process per job, results out.

Threads: paho's network loop (callbacks only store and signal), one job runner, one resender that
republishes unacknowledged results while connected. Everything a thread needs to survive a crash
or reboot is in ``AgentStore`` before the thread acts on it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

from agent import __version__
from agent.artifacts import ArtifactCache
from agent.errors import ArtifactError, ProtocolError
from agent.mqtt_client import detach, make_client
from agent.outbox import AgentStore
from agent.protocol import (
    AgentStatus,
    BenchmarkJob,
    BenchmarkResult,
    ResultAck,
    WorkerSpec,
    ack_topic,
    decode,
    encode,
    job_topic,
    parse_broker_url,
    result_topic,
    status_topic,
)
from agent.runtimes.base import LocalArtifact
from agent.signing import verify_ack, verify_job
from agent.worker import failed_result

log = logging.getLogger("edgeprof.agent")

#: A job that was running when the agent died this many times is reported failed, not retried.
MAX_ATTEMPTS = 2


class _Interrupted(Exception):
    """The agent is shutting down while a job's child process runs."""


class AgentService:
    def __init__(
        self,
        broker_url: str,
        device_id: str,
        state_dir: Path,
        job_key: Optional[bytes],
        power: Optional[str] = None,
        target: str = "",
        resend_interval_s: float = 10.0,
        cancel_queued: bool = False,
    ) -> None:
        self.broker = parse_broker_url(broker_url)
        self.device_id = device_id
        self.state_dir = Path(state_dir)
        self.job_key = job_key
        self.power = power
        self.target = target
        self.resend_interval_s = resend_interval_s
        self.cancel_queued = cancel_queued
        self.store = AgentStore(self.state_dir / "agent.db")
        self.cache = ArtifactCache(self.state_dir / "artifacts")
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._child: Optional[subprocess.Popen] = None
        self._caps: Optional[Dict[str, Any]] = None
        self._client = self._make_client()
        self._capabilities()

    # MQTT ------------------------------------------------------------------------------------------
    def _make_client(self) -> Any:
        client = make_client(self.broker, "edgeprof-agent-" + self.device_id, clean_session=False)
        client.will_set(status_topic(self.device_id), encode(self._status("offline")), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _capabilities(self) -> Dict[str, Any]:
        """Runtimes and power sources, probed once: probing opens sensors (jtop, NVML) and imports
        runtimes, which must not happen in paho's thread on every reconnect, least of all mid-window."""
        if self._caps is None:
            from agent.runtimes import installed_runtimes

            try:
                from agent.power import available as power_available

                sources = list(power_available())
            except Exception:  # a sensor probe must never stop the agent from reporting presence
                sources = []
            self._caps = {"runtimes": installed_runtimes(), "power_sources": sources}
        return self._caps

    def _status(self, state: str) -> AgentStatus:
        caps = self._capabilities() if state != "offline" else {"runtimes": {}, "power_sources": []}
        return AgentStatus(
            device_id=self.device_id,
            state=state,
            agent_version=__version__,
            runtimes=caps["runtimes"],
            power_sources=caps["power_sources"],
            target=self.target,
            hostname=socket.gethostname(),
            ts=time.time(),
        )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s", self.broker["host"], self.broker["port"])
        client.subscribe([(job_topic(self.device_id), 1), (ack_topic(self.device_id), 1)])
        client.publish(status_topic(self.device_id), encode(self._status("online")), qos=1, retain=True)
        self._connected.set()
        self._wake.set()
        self._publish_pending(0.0)  # whatever the outbox holds goes out as soon as we are back

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._connected.clear()
        if not self.stop_event.is_set():
            log.warning("lost the broker (%s); reconnecting, results stay in the outbox", reason_code)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            if msg.topic == ack_topic(self.device_id):
                ack = decode(ResultAck, msg.payload)
                if self.job_key is not None:
                    verify_ack(ack, self.job_key)
                removed = self.store.ack(ack.result_ids)
                log.info("host acknowledged %d result(s)", removed)
            elif msg.topic == job_topic(self.device_id):
                self._accept_job(msg.payload)
        except ProtocolError as exc:
            log.warning("refused a message on %s: %s", msg.topic, exc)
        except Exception:  # a failing disk must not stop paho's network thread
            log.exception("could not handle a message on %s", msg.topic)

    def _accept_job(self, payload: bytes) -> None:
        job = decode(BenchmarkJob, payload)
        if job.device_id != self.device_id:
            raise ProtocolError("job %s is addressed to %s, not this device" % (job.job_id, job.device_id))
        if self.job_key is not None:
            verify_job(job, self.job_key, time.time(), self.store.job_seen)
        if not self.store.add_job(job.job_id, bytes(payload)):
            raise ProtocolError("job %s was already received: replay refused" % job.job_id)
        log.info("queued job %s (%s, %s)", job.job_id, job.variant_id, job.runtime)
        self._wake.set()

    def _publish_pending(self, base_interval_s: float) -> None:
        if not self._connected.is_set():
            return
        for result_id, payload in self.store.pending_results(base_interval_s):
            info = self._client.publish(result_topic(self.device_id), payload, qos=1)
            if info.rc == 0:
                self.store.mark_sent(result_id)

    # jobs ------------------------------------------------------------------------------------------
    def _run_one(self) -> bool:
        claimed = self.store.next_job()
        if claimed is None:
            return False
        job_id, payload, attempts = claimed
        try:
            job = decode(BenchmarkJob, payload)
        except ProtocolError as exc:  # stored by an older agent version, say: drop it, keep the queue moving
            log.error("dropped stored job %s: it no longer decodes (%s)", job_id, exc)
            self.store.drop_job(job_id)
            return True
        started = time.time()
        if attempts > MAX_ATTEMPTS:
            result = failed_result(
                job, "the agent stopped during this job %d times; not retried" % (attempts - 1), started
            )
        elif job.expires_at < started:
            result = failed_result(job, "job expired before it could run (queue too long?)", started)
        else:
            try:
                result = self._execute(job, started)
            except _Interrupted:
                return False  # shutdown mid-job: it stays 'running' and is retried after a restart
            except Exception as exc:  # full disk, a broken download stream...: report the real cause
                log.exception("job %s failed outside its benchmark process", job_id)
                result = failed_result(
                    job, "agent error before or after the benchmark: %s: %s" % (type(exc).__name__, exc), started
                )
        self.store.finish_job(job_id, result.result_id, encode(result))
        log.info(
            "job %s finished: %s%s",
            job_id,
            result.status,
            (" (" + result.error + ")") if result.error else "",
        )
        self._publish_pending(self.resend_interval_s)  # the new result, and any others now due
        return True

    def _execute(self, job: BenchmarkJob, started: float) -> BenchmarkResult:
        deadline = time.monotonic() + job.deadline_s
        stop = self.stop_event.is_set
        try:
            build = self.cache.fetch_build(job.model, deadline=deadline, should_stop=stop)
            eval_path = self.cache.fetch(job.eval_data, deadline=deadline, should_stop=stop) if job.eval_data else None
        except ArtifactError as exc:
            if self.stop_event.is_set():
                raise _Interrupted() from None
            return failed_result(job, str(exc), started)
        work = self.state_dir / "work" / job.job_id
        try:
            return self._run_child(job, started, work, build, eval_path, deadline)
        finally:
            shutil.rmtree(str(work), ignore_errors=True)  # the result goes to the outbox; keep no copies

    def _run_child(
        self,
        job: BenchmarkJob,
        started: float,
        work: Path,
        build: LocalArtifact,
        eval_path: Optional[Path],
        deadline: float,
    ) -> BenchmarkResult:
        """Run the benchmark child in ``work`` until it writes its result or the deadline passes."""
        work.mkdir(parents=True, exist_ok=True)
        spec = work / "spec.json"
        out = work / "result.json"
        spec.write_bytes(
            encode(
                WorkerSpec(
                    job=job,
                    artifact_kind=build.kind,
                    artifact_files={role: str(p) for role, p in build.files.items()},
                    artifact_settings=build.settings,
                    eval_path=str(eval_path) if eval_path else None,
                    power=self.power,
                    target=self.target,
                    deadline_at=time.time() + (deadline - time.monotonic()),
                )
            )
        )
        stderr_path = work / "stderr.log"
        with open(str(stderr_path), "wb") as err:
            # Its own session: a Ctrl-C meant for the agent must not kill the benchmark behind the
            # agent's back (it would look like a crash); the agent stops it when it stops itself.
            self._child = subprocess.Popen(
                [sys.executable, "-m", "agent.worker", str(spec), str(out), str(os.getpid())],
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
            try:
                rc = self._wait_child(max(1.0, deadline - time.monotonic()))  # what the downloads left
            finally:
                self._child = None
        if rc is None:
            return failed_result(job, "job ran past its deadline of %.0f s and was killed" % job.deadline_s, started)
        if self.stop_event.is_set() and rc != 0:
            raise _Interrupted()
        if rc != 0 or not out.exists():
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return failed_result(job, "benchmark process exited with code %s: %s" % (rc, tail[0]), started)
        try:
            return decode(BenchmarkResult, out.read_bytes())
        except ProtocolError as exc:
            return failed_result(job, "benchmark process wrote an invalid result: %s" % exc, started)

    def _wait_child(self, deadline_s: float) -> Optional[int]:
        child = self._child
        assert child is not None
        end = time.monotonic() + deadline_s
        while True:
            rc = child.poll()
            if rc is not None:
                return rc
            if self.stop_event.is_set() or time.monotonic() > end:
                child.terminate()
                try:
                    child.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                return None if not self.stop_event.is_set() else -15
            time.sleep(0.05)

    def _job_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                if self._run_one():
                    continue
            except Exception:  # the loop must survive any one job's failure
                log.exception("job runner error")
            self._wake.wait(1.0)
            self._wake.clear()

    def _resend_loop(self) -> None:
        while not self.stop_event.wait(self.resend_interval_s):
            try:
                self._publish_pending(self.resend_interval_s)
            except Exception:
                log.exception("resend error")

    def _cancel_queued(self) -> int:
        """Answer every job queued before this start with a 'cancelled' failure instead of running it
        (``--cancel-queued``: an agent that serves one run at a time, like the host's local agent)."""
        cancelled = 0
        for job_id, payload in self.store.unfinished_jobs():
            try:
                job = decode(BenchmarkJob, payload)
            except ProtocolError:
                self.store.drop_job(job_id)
                continue
            result = failed_result(
                job, "cancelled: the agent was restarted for a new run before this job ran", time.time()
            )
            self.store.finish_job(job_id, result.result_id, encode(result))
            cancelled += 1
        return cancelled

    # lifecycle -------------------------------------------------------------------------------------
    def run(self) -> None:
        """Connect (retrying), serve until ``stop_event`` is set, then shut down cleanly."""
        if self.cancel_queued:
            n = self._cancel_queued()
            if n:
                log.info("cancelled %d job(s) queued before this start (--cancel-queued)", n)
        self._client.connect_async(self.broker["host"], self.broker["port"], keepalive=30)
        self._client.loop_start()
        runner = threading.Thread(target=self._job_loop, name="jobs", daemon=True)
        resender = threading.Thread(target=self._resend_loop, name="resend", daemon=True)
        runner.start()
        resender.start()
        log.info(
            "agent %s serving as %s (%d queued job(s), %d unacknowledged result(s))",
            __version__,
            self.device_id,
            self.store.queued_jobs(),
            self.store.outbox_size(),
        )
        try:
            self.stop_event.wait()
        finally:
            runner.join(10)
            resender.join(2)
            if self._connected.is_set():
                info = self._client.publish(
                    status_topic(self.device_id), encode(self._status("offline")), qos=1, retain=True
                )
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            self._client.disconnect()
            self._client.loop_stop()
            detach(self._client)
            self.store.close()
            log.info("agent stopped")

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()
