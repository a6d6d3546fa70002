"""The host's MQTT connection: device presence in, signed jobs out, results in, acks out.

A result is acknowledged only after it is committed to the results DB, so the agent drops it from
its outbox only once it is safe here (end-to-end acknowledgement, design.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import Any

from agent.errors import ProtocolError
from agent.mqtt_client import detach, make_client
from agent.protocol import (
    RESULT_WILDCARD,
    STATUS_WILDCARD,
    AgentStatus,
    BenchmarkJob,
    BenchmarkResult,
    ResultAck,
    ack_topic,
    decode,
    device_id_from_topic,
    encode,
    job_topic,
    parse_broker_url,
)
from agent.signing import sign_ack
from pipeline.errors import BrokerError, DispatchError
from pipeline.results_db import ResultsDB

log = logging.getLogger("edgeprof.dispatch")


class MQTTHost:
    """One connection to the broker for a run: it stores results in ``db`` (only for jobs this host
    issued) and acknowledges them signed with ``key`` once committed."""

    def __init__(self, broker_url: str, db: ResultsDB, key: bytes | None) -> None:
        try:
            self.broker = parse_broker_url(broker_url)
        except ProtocolError as exc:
            raise BrokerError(f"{exc}") from None
        self.url = broker_url
        self.db = db
        self.key = key  # signs acks; agents holding the same key ignore unsigned ones
        self.devices: dict[str, AgentStatus] = {}
        self.results: queue.Queue[BenchmarkResult] = queue.Queue()
        self.rejected: list[str] = []
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self._lock = threading.Lock()
        self._client = self._make_client()

    def _make_client(self) -> Any:
        client = make_client(
            self.broker, "edgeprof-host-" + uuid.uuid4().hex[:12], clean_session=True, max_reconnect_delay_s=10
        )
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
        detach(self._client)

    # callbacks -------------------------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            return
        client.subscribe([(STATUS_WILDCARD, 1), (RESULT_WILDCARD, 1)])
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self._connected.is_set():
            log.warning("lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            device_id = device_id_from_topic(msg.topic)
            if msg.topic.endswith("/status"):
                if not msg.payload:
                    return  # a cleared retained message
                status = decode(AgentStatus, msg.payload)
                if status.device_id != device_id:
                    raise ProtocolError(f"status for {status.device_id} published on {device_id}'s topic")
                with self._lock:
                    self.devices[device_id] = status
                self.db.set_device(device_id, encode(status).decode())
            elif msg.topic.endswith("/results"):
                result = decode(BenchmarkResult, msg.payload)
                if result.device_id != device_id:
                    raise ProtocolError(f"result for {result.device_id} published on {device_id}'s topic")
                why_not = self.db.check_issued(result)
                if why_not is not None:
                    # not ours (another host on the same broker, or forged): neither stored nor acked,
                    # so the agent keeps it for the host that did issue the job
                    raise ProtocolError(why_not)
                new = self.db.add_result(result)
                ack = ResultAck([result.result_id])
                if self.key is not None:
                    ack = sign_ack(ack, self.key)
                client.publish(ack_topic(device_id), encode(ack), qos=1)
                if new:
                    self.results.put(result)
        except ProtocolError as exc:
            log.warning("ignored a message on %s: %s", msg.topic, exc)
            self.rejected.append(f"{msg.topic}: {exc}")
        except Exception:  # e.g. a full disk under the DB: unacked, so the agent resends it later
            log.exception("could not handle a message on %s; it will be resent", msg.topic)

    # operations ------------------------------------------------------------------------------------
    def devices_snapshot(self) -> dict[str, AgentStatus]:
        """The last status each device announced (a copy: the network thread updates the original)."""
        with self._lock:
            return dict(self.devices)

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
