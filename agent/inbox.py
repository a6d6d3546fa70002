"""What arrives on this device's topics (jobs, acknowledgements), checked before anything acts on it.

The device runs only jobs and honours only acknowledgements signed by the host key it was enrolled
with, and an acknowledgement must name this device (it deletes results from the outbox). Whatever
is refused (bad or no signature, expired, replayed, a full disk) is counted and reported back at
once as a signed ``Refusal``, so a key mistake or a storage failure shows on the host instead of a
silent wait.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Optional

from agent.errors import ProtocolError
from agent.outbox import AgentStore
from agent.protocol import BenchmarkJob, Refusal, ResultAck, ack_topic, decode, job_topic, refusal_topic
from agent.refusals import RefusalCounter, job_id_of, refusal_kind
from agent.signing import VerifyKey, verify, verify_job

log = logging.getLogger("edgeprof.agent")

#: Refusals reported to the host per minute at most; the rest are only counted (a flood of forged
#: jobs must not become a flood of answers).
MAX_REFUSALS_PER_MIN = 30


class Inbox:
    """Paho's message callback for one device: verify, store durably, then signal.

    ``publish(topic, message)`` signs and sends; ``report(job, state, detail)`` tells the host where a
    job is; ``job_queued()`` wakes the job runner.
    """

    def __init__(
        self,
        device_id: str,
        host_key: Optional[VerifyKey],
        store: AgentStore,
        state_dir: Path,
        publish: Callable[[str, Any], Any],
        report: Callable[[BenchmarkJob, str, str], None],
        job_queued: Callable[[], None],
    ) -> None:
        self.device_id = device_id
        self.host_key = host_key  # None: --insecure-accept-unsigned
        self.store = store
        self.state_dir = state_dir
        self.refusals = RefusalCounter(MAX_REFUSALS_PER_MIN)
        self._publish = publish
        self._report = report
        self._job_queued = job_queued

    def on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        subject = "ack" if msg.topic == ack_topic(self.device_id) else "job"
        try:
            if subject == "ack":
                self._accept_ack(msg.payload)
            elif msg.topic == job_topic(self.device_id):
                self._accept_job(msg.payload)
        except ProtocolError as exc:
            self._refuse(subject, job_id_of(msg.payload) if subject == "job" else "", str(exc))
        except sqlite3.Error as exc:  # a full disk: refuse visibly, the job is not queued
            self._refuse(
                subject,
                job_id_of(msg.payload),
                "storage error on the device (%s): the job was not queued; free space under %s" % (exc, self.state_dir),
                kind="storage",
            )
        except Exception:  # nothing may stop paho's network thread
            log.exception("could not handle a message on %s", msg.topic)

    def _accept_ack(self, payload: bytes) -> None:
        ack = decode(ResultAck, payload)
        if self.host_key is not None:
            verify(ack, self.host_key, "an acknowledgement")
            if ack.device_id != self.device_id:
                raise ProtocolError(
                    "an acknowledgement for device %r arrived on this device's topic: ignored, results stay "
                    "in the outbox" % ack.device_id
                )
        removed = self.store.ack(ack.result_ids)
        log.info("host acknowledged %d result(s)", removed)

    def _accept_job(self, payload: bytes) -> None:
        job = decode(BenchmarkJob, payload)
        if job.device_id != self.device_id:
            raise ProtocolError("job %s is addressed to %s, not this device" % (job.job_id, job.device_id))
        if self.host_key is not None:
            verify_job(job, self.host_key, time.time(), self.store.job_seen)
        if not self.store.add_job(job.job_id, bytes(payload), job.expires_at):
            raise ProtocolError("job %s was already received: replay refused" % job.job_id)
        log.info(
            "queued job %s (%s, %s)",
            job.job_id,
            job.variant_id,
            job.runtime,
            extra={"event": "job_queued", "job_id": job.job_id},
        )
        self._report(job, "accepted", "queued on the device")
        self._job_queued()

    def _refuse(self, subject: str, subject_id: str, reason: str, kind: str = "") -> None:
        """Count a refusal, log it, and report it to the host (at most MAX_REFUSALS_PER_MIN a minute)."""
        log.warning(
            "refused a %s%s: %s",
            subject,
            (" " + subject_id) if subject_id else "",
            reason,
            extra={"event": "refused_" + subject, "job_id": subject_id if subject == "job" else ""},
        )
        if not self.refusals.count(kind or refusal_kind(reason)):
            return
        try:
            self._publish(
                refusal_topic(self.device_id), Refusal(self.device_id, subject, subject_id, reason, time.time())
            )
        except Exception:  # reporting is best effort; the count and the log line stay
            log.exception("could not report a refusal")
