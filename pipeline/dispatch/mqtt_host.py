"""The host's MQTT connection: device presence in, signed jobs out, results in, acks out.

paho's network thread only queues what arrives; one ingest thread takes it in batches, verifies
each message against the sender's enrolled key, stores a batch of results in one transaction and
only then acknowledges them (end-to-end acknowledgement, design.md): one full-sync commit and an
ack per result in paho's thread stored ~330 results/s, and the broker dropped what queued behind.

Believed only when signed by the enrolled key of the device whose topic it came on: status,
results, job states, refusals. Everything else is refused, counted in ``refused`` (by reason) and
listed in ``rejected``; a refused result is not acknowledged, so a forged answer can neither be
stored nor make the host delete the genuine one.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from agent.errors import ProtocolError
from agent.mqtt_client import BrokerSecurity, detach, make_client
from agent.protocol import (
    BATCH_WILDCARD,
    JOBSTATE_WILDCARD,
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    REFUSAL_WILDCARD,
    RESULT_WILDCARD,
    STATUS_WILDCARD,
    AgentStatus,
    BenchmarkJob,
    BenchmarkResult,
    JobState,
    Refusal,
    ResultAck,
    ResultBatch,
    ack_topic,
    device_id_from_topic,
    encode,
    from_dict,
    job_topic,
    parse_broker_url,
)
from agent.signing import SigningKey, check_clock, sign, verified_json
from pipeline.dispatch.keyring import Keyring
from pipeline.errors import BrokerError, DispatchError
from pipeline.results_db import ResultsDB

log = logging.getLogger("edgeprof.dispatch")

#: Messages taken off the queue per transaction at most.
BATCH_MAX = 1000
#: ``rejected`` keeps this many most recent lines; ``refused`` counts them all.
REJECTED_KEPT = 1000


@dataclass(frozen=True)
class JobEvent:
    """A job moved on its device (or was refused by it): what the collect stage shows and acts on."""

    job_id: str
    device_id: str
    state: str
    detail: str


class MQTTHost:
    """One connection to the broker for a run: it stores results in ``db`` (only for jobs this host
    issued, only when signed by the device's key in ``keyring``) and acknowledges them, signed with
    ``host_key``, once committed."""

    def __init__(
        self,
        broker_url: str,
        db: ResultsDB,
        host_key: SigningKey,
        keyring: Keyring,
        security: BrokerSecurity | None = None,
    ) -> None:
        try:
            self.broker = parse_broker_url(broker_url)
        except ProtocolError as exc:
            raise BrokerError(f"{exc}") from None
        self.url = broker_url
        self.db = db
        self.host_key = host_key
        self.keyring = keyring
        self.security = security
        self.devices: dict[str, AgentStatus] = {}
        self.results: queue.Queue[BenchmarkResult] = queue.Queue()
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self.rejected: list[str] = []
        self.refused: Counter[str] = Counter()
        self.unverified: dict[str, str] = {}  # device id -> why its status was refused
        self.stored_count = 0
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self._lock = threading.Lock()
        self._client = self._make_client()
        self._ingest = threading.Thread(target=self._ingest_loop, name="ingest", daemon=True)

    def _make_client(self) -> Any:
        client = make_client(
            self.broker,
            "edgeprof-host-" + uuid.uuid4().hex[:12],  # unique per connection
            clean_session=True,
            max_reconnect_delay_s=10,
            security=self.security,
        )
        # Bursts from many devices: let more QoS 1 messages be in flight towards us (paho's default is 20).
        client.max_inflight_messages_set(200)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # lifecycle -------------------------------------------------------------------------------------
    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect or raise BrokerError with the reason and what to check."""
        where = f"{self.broker['host']}:{self.broker['port']}"
        try:
            self._client.connect(self.broker["host"], self.broker["port"], keepalive=30)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise BrokerError(
                f"cannot reach the MQTT broker at {where}: {reason}. Start the broker, or check --broker "
                "(omit it to use the embedded one)"
            ) from None
        self._ingest.start()
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self._client.loop_stop()
            raise BrokerError(
                f"the MQTT broker at {where} did not accept the connection within {timeout_s:.0f} s"
                + (f": {self._connect_error}" if self._connect_error else "")
            )

    def close(self) -> None:
        self._connected.clear()
        self._client.disconnect()
        self._client.loop_stop()
        if self._ingest.is_alive():
            self._inbox.put(None)
            self._ingest.join(30)
        detach(self._client)

    # network thread: queue only --------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            return
        topics = (STATUS_WILDCARD, RESULT_WILDCARD, BATCH_WILDCARD, JOBSTATE_WILDCARD, REFUSAL_WILDCARD)
        client.subscribe([(t, 1) for t in topics])
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self._connected.is_set():
            log.warning("lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            self._reject(msg.topic, f"message of {len(msg.payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
            return
        self._inbox.put((msg.topic, bytes(msg.payload)))

    # ingest thread ---------------------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while True:
            item = self._inbox.get()
            batch = [item]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            try:
                self._ingest_batch([m for m in batch if m is not None])
            except Exception:  # the thread must survive anything one batch does
                log.exception("ingest error")
            if done:
                return

    def _ingest_batch(self, batch: list[tuple[str, bytes]]) -> None:
        results: list[tuple[BenchmarkResult, bytes]] = []
        for topic, payload in batch:
            try:
                device_id = device_id_from_topic(topic)
                kind = topic.rsplit("/", 1)[1]
                if kind == "results":
                    results.append((self._verified(BenchmarkResult, payload, device_id, "result"), payload))
                elif kind == "batches":  # one signature, the device's, over all of them
                    batch, data = self._verified_with_json(ResultBatch, payload, device_id, "result batch")
                    for r, raw in zip(batch.results, data["results"], strict=True):
                        results.append((r, json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()))
                elif kind == "status":
                    self._on_status(device_id, payload)
                elif kind == "jobstate":
                    state = self._verified(JobState, payload, device_id, "job state")
                    self._job_moved(device_id, state.job_id, state.state, state.detail)
                elif kind == "refusals":
                    self._on_refusal(device_id, payload)
            except ProtocolError as exc:
                self._reject(topic, str(exc))
        if results:
            self._store(results)

    def _verified(self, cls: type, payload: bytes, device_id: str, what: str) -> Any:
        """The message, decoded, if the enrolled key of the device whose topic it came on signed it."""
        return self._verified_with_json(cls, payload, device_id, what)[0]

    def _verified_with_json(self, cls: type, payload: bytes, device_id: str, what: str) -> tuple[Any, dict]:
        key = self.keyring.get(device_id)
        if key is None:
            raise ProtocolError(
                f"{what} from {device_id}, which has no enrolled key: enrol it with "
                f"`edgeprof fleet enrol {device_id} DEVICE.pub` (its `edgeprof-agent keygen` printed the file)"
            )
        data = verified_json(cls, payload, key, f"{what} from {device_id}")
        message = from_dict(cls, data)
        if message.device_id != device_id:
            raise ProtocolError(f"{what} for {message.device_id} published on {device_id}'s topic")
        return message, data

    def _on_status(self, device_id: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        try:
            status = self._verified(AgentStatus, payload, device_id, "status")
            if status.protocol_version != PROTOCOL_VERSION:
                raise ProtocolError(
                    f"status from {device_id} speaks protocol {status.protocol_version}, this host "
                    f"{PROTOCOL_VERSION}: upgrade the older of host and agent"
                )
            check_clock(status.ts, time.time(), f"status from {device_id}")
        except ProtocolError as exc:
            with self._lock:
                self.unverified[device_id] = str(exc)
            raise
        with self._lock:
            self.devices[device_id] = status
            self.unverified.pop(device_id, None)
        self.db.set_device(device_id, encode(status).decode())

    def _on_refusal(self, device_id: str, payload: bytes) -> None:
        refusal = self._verified(Refusal, payload, device_id, "refusal")
        log.warning("%s refused a %s %s: %s", device_id, refusal.subject, refusal.subject_id, refusal.reason)
        self._reject(f"{device_id} refused {refusal.subject} {refusal.subject_id}", refusal.reason, count=False)
        if refusal.subject == "job" and refusal.subject_id:
            self._job_moved(device_id, refusal.subject_id, "failed", f"refused by {device_id}: {refusal.reason}")

    def _job_moved(self, device_id: str, job_id: str, state: str, detail: str) -> None:
        if self.db.set_job_state(job_id, device_id, state, detail):
            self.events.put(JobEvent(job_id, device_id, state, detail))

    def _store(self, results: list[tuple[BenchmarkResult, bytes]]) -> None:
        try:
            payloads = {r.result_id: p.decode() for r, p in results}
            outcome = self.db.ingest([r for r, _ in results], payloads)
        except Exception:  # e.g. a full disk under the DB: nothing acked, so the devices resend
            log.exception("could not store %d result(s); they will be resent", len(results))
            return
        for result, why_not in outcome.refused:
            # not ours (another host on the same broker): neither stored nor acked, so the device
            # keeps it for the host that did issue the job
            self._reject(f"result {result.result_id} from {result.device_id}", why_not)
        by_device: dict[str, list[str]] = {}
        for result in outcome.stored + outcome.duplicates:
            ids = by_device.setdefault(result.device_id, [])
            if result.result_id not in ids:
                ids.append(result.result_id)
        for device_id, ids in by_device.items():
            ack = sign(ResultAck(ids, device_id=device_id, ts=time.time()), self.host_key)
            self._client.publish(ack_topic(device_id), encode(ack), qos=1)
        self.stored_count += len(outcome.stored)
        for result in outcome.stored:
            self.results.put(result)

    def _reject(self, where: str, reason: str, count: bool = True) -> None:
        if count:
            self.refused[_reason_kind(reason)] += 1
            log.warning("refused a message on %s: %s", where, reason)
        with self._lock:
            self.rejected.append(f"{where}: {reason}")
            del self.rejected[:-REJECTED_KEPT]

    # operations ------------------------------------------------------------------------------------
    def devices_snapshot(self) -> dict[str, AgentStatus]:
        """The last status each device announced (a copy: the ingest thread updates the original)."""
        with self._lock:
            return dict(self.devices)

    def unverified_snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self.unverified)

    def send_job(self, job: BenchmarkJob, timeout_s: float = 10.0) -> None:
        info = self._client.publish(job_topic(job.device_id), encode(job), qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DispatchError(f"could not publish job {job.job_id} to {job.device_id}: {exc}") from None
        if not info.is_published():
            raise DispatchError(
                f"the broker did not acknowledge job {job.job_id} within {timeout_s:.0f} s: is it still up?"
            )


def _reason_kind(reason: str) -> str:
    for kind in ("no enrolled key", "bad signature", "not signed", "not issued by this host", "published on"):
        if kind in reason:
            return kind.replace(" ", "_")
    return "malformed"
