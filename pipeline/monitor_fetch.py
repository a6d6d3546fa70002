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
        utilisation_from_summary(message.summary, what)
    except (ProtocolError, ValueError) as exc:
        raise PipelineError(f"refused: {exc}; nothing was written") from None
    return message


def fetch_summary(
    broker_url: str, device_id: str, keyring: Keyring, wait_s: float, security: Any = None
) -> MonitorSummary:
    """Subscribe to ``device_id``'s monitor topic, take the retained summary, and verify it."""
    from agent.mqtt_client import broker_security, detach, make_client

    topic = monitor_topic(device_id)
    key = keyring.get(device_id)
    if key is None:
        verified_summary(b"", device_id, None, time.time())  # raises: not enrolled, before any network
    broker = parse_broker_url(broker_url)
    where = f"{broker['host']}:{broker['port']}"
    got: list[bytes] = []
    refused: list[str] = []
    subscribed = threading.Event()
    arrived = threading.Event()

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
    try:
        client.connect(broker["host"], broker["port"], keepalive=30)
    except (OSError, ValueError) as exc:
        detach(client)
        raise BrokerError(f"cannot reach the MQTT broker at {where}: {exc}: start it, or check --broker") from None
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise BrokerError(f"the MQTT broker at {where} did not accept the connection and subscription in 10 s")
        if refused:
            raise BrokerError(
                f"the MQTT broker at {where} refused the connection: {refused[0]} (check --broker-credentials)"
            )
        if not arrived.wait(wait_s):
            raise PipelineError(
                f"no monitor summary of {device_id} on {where} within {wait_s:g} s: run `edgeprof-agent monitor "
                f"--broker URL --device-id {device_id}` on the device first (and check that the broker's ACL lets "
                f"this host read {topic})"
            )
    finally:
        client.disconnect()
        client.loop_stop()
        client.on_subscribe = None
        detach(client)
    return verified_summary(got[0], device_id, key, time.time())
