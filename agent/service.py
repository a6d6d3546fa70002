"""The agent's main loop: MQTT in, verified jobs queued durably, one child process per job, results out.

Threads: paho's network loop (callbacks verify, store and signal: :mod:`agent.inbox`), one job
runner, one resender that republishes unacknowledged results while connected
(:mod:`agent.outbox_sender`). Everything a thread needs to survive a crash
or reboot is in ``AgentStore`` before the thread acts on it.

Everything this device sends is signed with its own key (results, status and its last will, job
states, refusals); it runs only jobs and honours only acknowledgements signed by the host key it
was enrolled with, and an acknowledgement must name this device. Whatever it refuses (bad or no
signature, expired, replayed, a full disk) is counted and reported back at once as a signed
``Refusal``, so a key mistake or a storage failure shows on the host instead of a silent wait.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Optional

from agent import __version__
from agent.artifacts import DEFAULT_MAX_BYTES as DEFAULT_CACHE_MAX_BYTES
from agent.artifacts import ArtifactCache
from agent.errors import ProtocolError
from agent.inbox import Inbox
from agent.job_runner import Interrupted, JobRunner
from agent.logs import job_context
from agent.mqtt_client import BrokerSecurity, detach, make_client
from agent.outbox import RESULT_RETENTION_S, AgentStore
from agent.outbox_sender import drop_expired_results, prune_replay_store, publish_pending
from agent.presence import Presence
from agent.protocol import (
    BenchmarkJob,
    BenchmarkResult,
    JobState,
    ack_topic,
    decode,
    encode,
    job_topic,
    jobstate_topic,
    parse_broker_url,
    result_topic,
    status_topic,
)
from agent.signing import SigningKey, VerifyKey, sign
from agent.worker import failed_result

log = logging.getLogger("edgeprof.agent")

#: A job that was running when the agent died this many times is reported failed, not retried.
MAX_ATTEMPTS = 2
#: The retained status is republished this often, so the host's "last seen" means what it says.
STATUS_INTERVAL_S = 60.0
#: After a storage error the job runner waits this long before touching the database again.
STORAGE_BACKOFF_S = 30.0


class AgentService:
    def __init__(
        self,
        broker_url: str,
        device_id: str,
        state_dir: Path,
        device_key: SigningKey,
        host_key: Optional[VerifyKey],
        power: Optional[str] = None,
        target: str = "",
        resend_interval_s: float = 10.0,
        cancel_queued: bool = False,
        security: Optional[BrokerSecurity] = None,
        result_retention_s: float = RESULT_RETENTION_S,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
    ) -> None:
        self.broker = parse_broker_url(broker_url)
        self.device_id = device_id
        self.state_dir = Path(state_dir)
        self.device_key = device_key
        self.host_key = host_key  # None: --insecure-accept-unsigned
        self.resend_interval_s = resend_interval_s
        self.cancel_queued = cancel_queued
        self.security = security
        self.result_retention_s = result_retention_s
        self.store = AgentStore(self.state_dir / "agent.db")
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self.runner = JobRunner(
            self.state_dir,
            ArtifactCache(self.state_dir / "artifacts", cache_max_bytes),
            self.stop_event,
            power,
            target,
        )
        self.presence = Presence(device_id, target, host_key.fingerprint if host_key else "")
        self.inbox = Inbox(device_id, host_key, self.store, self.state_dir, self._publish, self._report, self._wake.set)
        self._current_job = ""
        self._connected = threading.Event()
        self._storage_failed_at = 0.0
        self.presence.capabilities()
        self._client = self._make_client()

    # MQTT ------------------------------------------------------------------------------------------
    def client_id(self) -> str:
        """Stable for this device (its session survives reconnects) but secret: derived from its
        private key, so a client that knows only the device id cannot take over its session."""
        return "edgeprof-agent-%s-%s" % (self.device_id, self.device_key.derive("mqtt-client-id")[:12])

    def _make_client(self) -> Any:
        client = make_client(self.broker, self.client_id(), clean_session=False, security=self.security)
        will = sign(self.presence.status("offline"), self.device_key)
        client.will_set(status_topic(self.device_id), encode(will), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self.inbox.on_message
        return client

    def _publish(self, topic: str, message: Any, retain: bool = False) -> Any:
        return self._client.publish(topic, encode(sign(message, self.device_key)), qos=1, retain=retain)

    def _publish_status(self, state: str = "online") -> Any:
        status = self.presence.status(state, current_job=self._current_job, refused=self.inbox.refusals.counts)
        return self._publish(status_topic(self.device_id), status, retain=True)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s", self.broker["host"], self.broker["port"])
        client.subscribe([(job_topic(self.device_id), 1), (ack_topic(self.device_id), 1)])
        self._publish_status()
        self._connected.set()
        self._wake.set()
        self._publish_pending(0.0)  # whatever the outbox holds goes out as soon as we are back

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._connected.clear()
        if not self.stop_event.is_set():
            log.warning("lost the broker (%s); reconnecting, results stay in the outbox", reason_code)

    def _report(self, job: BenchmarkJob, state: str, detail: str, attempt: int = 1) -> None:
        """Tell the host where ``job`` is (best effort: the result itself is the durable record)."""
        try:
            self._publish(
                jobstate_topic(self.device_id),
                JobState(self.device_id, job.job_id, state, time.time(), job.run_id, detail[:500], attempt),
            )
        except Exception:
            log.exception("could not report job %s as %s", job.job_id, state)

    def _publish_pending(self, base_interval_s: float) -> None:
        if self._connected.is_set():
            publish_pending(self._client, self.store, self.device_id, self.device_key, base_interval_s)

    # jobs ------------------------------------------------------------------------------------------
    def _run_one(self) -> bool:
        claimed = self.store.next_job()
        if claimed is None:
            return False
        with job_context(claimed[0]):  # every line this thread logs for the job carries its id
            return self._run_claimed(*claimed)

    def _run_claimed(self, job_id: str, payload: bytes, attempts: int) -> bool:
        try:
            job = decode(BenchmarkJob, payload)
        except ProtocolError as exc:  # stored by an older agent version, say: drop it, keep the queue moving
            log.error("dropped stored job %s: it no longer decodes (%s)", job_id, exc)
            self.store.drop_job(job_id)
            return True
        started = time.time()
        if attempts > 1:
            self._report(job, "accepted", "resumed after the agent restarted (attempt %d)" % attempts, attempts)
        state = "failed"
        if attempts > MAX_ATTEMPTS:
            result = failed_result(
                job, "the agent stopped during this job %d times; not retried" % (attempts - 1), started
            )
        elif job.expires_at < started:
            result = failed_result(job, "job expired before it could run (queue too long?)", started)
        else:
            self._set_current(job.job_id)
            try:
                result = self.runner.execute(job, started, self._report)
                state = "done" if result.status == "ok" else "failed"
                if "past its deadline" in result.error:
                    state = "timed_out"
            except Interrupted:
                return False  # shutdown mid-job: it stays 'running' and is retried after a restart
            except Exception as exc:  # a broken download stream...: report the real cause
                log.exception("job %s failed outside its benchmark process", job_id)
                result = failed_result(
                    job, "agent error before or after the benchmark: %s: %s" % (type(exc).__name__, exc), started
                )
            finally:
                self._set_current("")
        self._finish(job, result, state)
        return True

    def _finish(self, job: BenchmarkJob, result: BenchmarkResult, state: str) -> None:
        signed = sign(result, self.device_key)
        try:
            self.store.finish_job(
                job.job_id, result.result_id, encode(signed), job.expires_at + self.result_retention_s
            )
        except sqlite3.Error as exc:
            # The outbox cannot take it: send it once as it is and say why, rather than retry every second.
            self._storage_failed_at = time.monotonic()
            self.store.abandon(job.job_id)
            detail = "the device could not store the result (%s); free space under %s" % (exc, self.state_dir)
            log.error("job %s: %s", job.job_id, detail)
            self._client.publish(result_topic(self.device_id), encode(signed), qos=1)
            self._report(job, "failed", (result.error + "; " if result.error else "") + detail)
            return
        log.info(
            "job %s finished: %s%s",
            job.job_id,
            result.status,
            (" (" + result.error + ")") if result.error else "",
            extra={"event": "job_finished", "job_id": job.job_id},
        )
        self._report(job, state, result.error)
        self._publish_pending(self.resend_interval_s)  # the new result, and any others now due

    def _set_current(self, job_id: str) -> None:
        self._current_job = job_id
        if self._connected.is_set():
            self._publish_status("busy" if job_id else "online")

    def _job_loop(self) -> None:
        while not self.stop_event.is_set():
            if time.monotonic() - self._storage_failed_at < STORAGE_BACKOFF_S:
                self.stop_event.wait(1.0)
                continue
            try:
                if self._run_one():
                    continue
            except sqlite3.Error as exc:  # a full disk: one line, then a pause, not a traceback a second
                self._storage_failed_at = time.monotonic()
                log.error("the job queue cannot be read or written (%s); retrying in %.0f s", exc, STORAGE_BACKOFF_S)
            except Exception:  # the loop must survive any one job's failure
                log.exception("job runner error")
            self._wake.wait(1.0)
            self._wake.clear()

    def _resend_loop(self) -> None:
        last_status = last_prune = time.monotonic()
        while not self.stop_event.wait(self.resend_interval_s):
            try:
                if self._connected.is_set() and time.monotonic() - last_status >= STATUS_INTERVAL_S:
                    self._publish_status("busy" if self._current_job else "online")  # "last seen" stays true
                    last_status = time.monotonic()
                if time.monotonic() - last_prune >= STATUS_INTERVAL_S:
                    prune_replay_store(self.store)
                    last_prune = time.monotonic()
                drop_expired_results(self.store, self.result_retention_s)
                self._publish_pending(self.resend_interval_s)
            except sqlite3.Error as exc:
                log.error("the outbox cannot be read (%s)", exc)
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
            self.store.finish_job(
                job_id,
                result.result_id,
                encode(sign(result, self.device_key)),
                job.expires_at + self.result_retention_s,
            )
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
            "agent %s serving as %s (%d queued job(s), %d unacknowledged result(s)); device key %s, host key %s",
            __version__,
            self.device_id,
            self.store.queued_jobs(),
            self.store.outbox_size(),
            self.device_key.public.fingerprint,
            self.host_key.fingerprint if self.host_key else "none (--insecure-accept-unsigned)",
        )
        try:
            self.stop_event.wait()
        finally:
            runner.join(10)
            resender.join(2)
            if self._connected.is_set():
                info = self._publish_status("offline")
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
