"""The host's side of ``edgeprof-agent monitor --broker``: fetch a device's retained monitor summary,
believe it only when the device's enrolled key signed it, and hand back the summary
``edgeprof report --monitor-summary FILE`` takes.

The trust path is the one results take: the key ``edgeprof fleet enrol`` put in the keyring
(:class:`~pipeline.dispatch.keyring.Keyring`), checked with :func:`agent.signing.decode_verified`.
An unsigned, forged, malformed or mis-addressed message is refused with the reason, and nothing is
written.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from agent.errors import ProtocolError
from agent.protocol import MonitorSummary, monitor_topic, parse_broker_url
from agent.signing import VerifyKey, check_clock, decode_verified
from pipeline.cost import utilisation_from_summary
from pipeline.dispatch.keyring import Keyring
from pipeline.errors import BrokerError, InputError, PipelineError


def verified_summary(payload: bytes, device_id: str, key: VerifyKey | None, now: float) -> MonitorSummary:
    """The monitor message in ``payload`` once checked: signed by ``key``, naming ``device_id``, not from
    the future, and a summary the cost model can use; PipelineError saying why not."""
    what = f"monitor summary of {device_id}"
    if key is None:
        raise InputError(
            f"{device_id} is not enrolled, so its monitor summary cannot be trusted: copy its device.key.pub "
            f"here and run `edgeprof fleet enrol {device_id} device.key.pub` (or pass --keyring)"
        )
    if not payload:
        raise PipelineError(f"the broker holds no {what} (its retained message was cleared)")
    try:
        message = decode_verified(MonitorSummary, payload, key, what)
        if message.device_id != device_id:
            raise ProtocolError(f"{what} names device {message.device_id!r}")
        check_clock(message.ts, now, what)
    except ProtocolError as exc:
        raise PipelineError(f"refused: {exc}; nothing was written") from None
    try:
        utilisation_from_summary(message.summary, what)
    except ValueError as exc:  # genuine, but useless to the cost model (a device idle the whole window)
        raise PipelineError(
            f"{what} is genuine but the cost model cannot use it: {exc}; nothing was written (monitor the device "
            "under its real load, or give --pid of the service)"
        ) from None
    return message


def fetch_summary(
    broker_url: str, device_id: str, keyring: Keyring, wait_s: float, security: Any = None
) -> MonitorSummary:
    """Subscribe to ``device_id``'s monitor topic, take the retained summary, and verify it."""
    key = keyring.get(device_id)
    if key is None:
        verified_summary(b"", device_id, None, time.time())  # raises: not enrolled, before any network
    payload, problem = _receive(parse_broker_url(broker_url), device_id, wait_s, security)
    if problem is not None:
        raise problem
    return verified_summary(payload, device_id, key, time.time())


def _receive(broker: dict, device_id: str, wait_s: float, security: Any) -> tuple[bytes, PipelineError | None]:
    """The first message on the device's monitor topic, or the error to raise. Returned, not raised, so
    that no traceback keeps this frame and its client (with paho's socket pair) alive past the call."""
    from agent.mqtt_client import broker_security, detach, make_client

    topic = monitor_topic(device_id)
    where = f"{broker['host']}:{broker['port']}"
    got: list[bytes] = []
    refused: list[str] = []
    subscribed = threading.Event()
    arrived = threading.Event()
    closed = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            refused.append(str(reason_code))
            subscribed.set()
        else:
            client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):  # type: ignore[no-untyped-def]
        subscribed.set()

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        if msg.topic == topic and not arrived.is_set():
            got.append(bytes(msg.payload))
            arrived.set()

    client_id = "edgeprof-monitor-" + uuid.uuid4().hex[:12]
    client = make_client(broker, client_id, clean_session=True, security=security or broker_security(broker))
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.on_disconnect = lambda *args: closed.set()
    try:
        client.connect(broker["host"], broker["port"], keepalive=30)
    except (OSError, ValueError) as exc:
        detach(client)
        client.on_subscribe = None
        return b"", BrokerError(f"cannot reach the MQTT broker at {where}: {exc}: start it, or check --broker")
    client.loop_start()
    problem: PipelineError | None = None
    if not subscribed.wait(10):
        problem = BrokerError(f"the MQTT broker at {where} did not accept the connection and subscription in 10 s")
    elif refused:
        problem = BrokerError(
            f"the MQTT broker at {where} refused the connection: {refused[0]} (check --broker-credentials)"
        )
    elif not arrived.wait(wait_s):
        problem = PipelineError(
            f"no monitor summary of {device_id} on {where} within {wait_s:g} s: run `edgeprof-agent monitor "
            f"--broker URL --device-id {device_id}` on the device first (and check that the broker's ACL lets "
            f"this host read {topic})"
        )
    client.disconnect()
    closed.wait(5)  # the DISCONNECT written and the socket closed before the loop stops
    client.loop_stop()
    client.on_subscribe = None
    detach(client)
    return (got[0] if got else b""), problem
