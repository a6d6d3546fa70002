"""``monitor --broker URL``: the summary goes to the broker signed by the device's key, retained, QoS 1.

The options are checked and the key loaded before any sampling (:meth:`MonitorPublisher.prepare`), so
a mistyped flag fails at once, not after a ten-minute window. :meth:`MonitorPublisher.publish` returns
only once the broker has acknowledged the publish (PUBACK, through ``on_publish``: paho's message info
cannot report success for a message queued while disconnected, design.md); otherwise it raises
:class:`PublishError` saying what failed, and the command keeps the summary on disk.

A PUBACK means the broker has the message. Under MQTT 3.1.1 a broker also acknowledges a publish
its ACL denies (and drops it), so the broker's ACL must let the device write its monitor topic
(``scripts/mosquitto/edgeprof.acl`` does).

The client id is derived from the device key like the service's, with another label: a monitor run
beside a running ``edgeprof-agent run`` must not take over that service's session.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from agent import __version__
from agent.cli_options import DEVICE_KEY_NAME
from agent.errors import AgentError
from agent.mqtt_client import BrokerSecurity, broker_security, detach, make_client
from agent.protocol import MonitorSummary, encode, local_device_id, monitor_topic, parse_broker_url
from agent.signing import SigningKey, load_private_key, sign

#: How long to wait for the broker's CONNACK and then its PUBACK, together (``--publish-timeout``).
DEFAULT_TIMEOUT_S = 30.0


class PublishError(AgentError):
    """The summary did not reach the broker (unreachable, refused, not acknowledged in time)."""


def default_out_path(device_id: str, now: Optional[float] = None) -> Path:
    """Where an undelivered summary goes without --out: a file in the current folder, named by device and time."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return Path("edgeprof-monitor-%s-%s.json" % (device_id, stamp))


def monitor_message(summary: Dict[str, Any], device_id: str, key: SigningKey) -> MonitorSummary:
    """The signed message for ``summary`` (ProtocolError when it is not a usable monitor summary)."""
    return sign(MonitorSummary(device_id=device_id, ts=time.time(), summary=summary, agent_version=__version__), key)


class MonitorPublisher:
    """Publishes one signed summary to one broker and waits for the acknowledgement."""

    def __init__(
        self,
        broker_url: str,
        device_id: str,
        key: SigningKey,
        security: Optional[BrokerSecurity] = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.broker_url = broker_url
        self.broker = parse_broker_url(broker_url)
        self.device_id = device_id
        self.key = key
        self.security = security
        self.timeout_s = timeout_s
        self.topic = monitor_topic(device_id)
        self.where = "%s:%d" % (self.broker["host"], self.broker["port"])  # no credentials from the URL

    @classmethod
    def prepare(
        cls,
        broker_url: str,
        device_id: Optional[str],
        state_dir: Path,
        device_key: Optional[Path],
        credentials: Optional[Path] = None,
        ca_file: Optional[Path] = None,
        cert_file: Optional[Path] = None,
        key_file: Optional[Path] = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> MonitorPublisher:
        """Check every option and load the device key (AgentError naming the fix), before sampling."""
        if not timeout_s > 0:
            raise AgentError("--publish-timeout %r: give a number of seconds > 0" % timeout_s)
        device_id = device_id or local_device_id()
        monitor_topic(device_id)  # a bad id is refused now
        security = broker_security(parse_broker_url(broker_url), credentials, ca_file, cert_file, key_file)
        key_path = device_key or Path(state_dir) / DEVICE_KEY_NAME
        if not Path(key_path).exists():
            raise AgentError(
                "--broker: the summary is signed with this device's key, and %s does not exist: pass --device-key "
                "or --state-dir where `edgeprof-agent keygen` (or `run --create-key`) made it, and enrol its "
                ".pub on the host (`edgeprof fleet enrol %s FILE`)" % (key_path, device_id)
            )
        return cls(broker_url, device_id, load_private_key(key_path), security, timeout_s)

    def client_id(self) -> str:
        return "edgeprof-monitor-%s-%s" % (self.device_id, self.key.derive("mqtt-monitor-client-id")[:12])

    def publish(self, summary: Dict[str, Any]) -> MonitorSummary:
        """Publish ``summary`` retained at QoS 1 and wait for the PUBACK; PublishError if it does not come."""
        message = monitor_message(summary, self.device_id, self.key)
        problem = self._send(encode(message))
        if problem is not None:
            raise problem
        return message

    def _send(self, payload: bytes) -> Optional[PublishError]:
        """Connect, publish, wait for the PUBACK, disconnect; the error, returned rather than raised, so
        that no traceback keeps this frame and its client (with paho's socket pair) alive."""
        where = self.where
        deadline = time.monotonic() + self.timeout_s
        state = threading.Condition()
        connected: List[bool] = []
        refused: List[str] = []
        lost: List[str] = []
        acked: Set[int] = set()

        def on_connect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
            with state:
                if reason_code.is_failure:
                    refused.append(str(reason_code))
                else:
                    connected.append(True)
                state.notify_all()

        def on_disconnect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
            with state:
                lost.append(str(reason_code))
                state.notify_all()

        def on_publish(client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
            with state:
                acked.add(mid)
                state.notify_all()

        def wait(predicate: Any, extra_s: float = 0.0) -> bool:
            with state:
                while not predicate():
                    left = deadline + extra_s - time.monotonic()
                    if left <= 0:
                        return False
                    state.wait(left)
                return True

        client = make_client(self.broker, self.client_id(), clean_session=True, security=self.security)
        client.on_connect, client.on_disconnect, client.on_publish = on_connect, on_disconnect, on_publish
        client.connect_timeout = max(0.1, min(self.timeout_s, 10.0))
        try:
            client.connect(self.broker["host"], self.broker["port"], keepalive=30)
        except (OSError, ValueError) as exc:
            client.on_publish = None
            detach(client)
            return PublishError(
                "cannot reach the MQTT broker at %s: %s (start the broker, or check --broker and its TLS options)"
                % (where, getattr(exc, "strerror", None) or exc)
            )
        client.loop_start()
        problem = None
        if not wait(lambda: connected or refused):
            problem = PublishError(
                "the MQTT broker at %s did not answer the connection within %.0f s%s (check that --broker "
                "names an MQTT listener, mqtts:// for a TLS one; --publish-timeout waits longer)"
                % (where, self.timeout_s, _lost(lost))
            )
        elif refused:
            problem = PublishError(
                "the MQTT broker at %s refused the connection: %s (check --broker-credentials or "
                "$EDGEPROF_MQTT_USERNAME/$EDGEPROF_MQTT_PASSWORD, and the TLS options)" % (where, refused[0])
            )
        else:
            info = client.publish(self.topic, payload, qos=1, retain=True)
            if info.rc != 0:
                problem = PublishError("the MQTT client could not send the summary to %s (rc %s)" % (where, info.rc))
            elif not wait(lambda: info.mid in acked):
                problem = PublishError(
                    "the MQTT broker at %s did not acknowledge the summary on %s within %.0f s%s (--publish-timeout "
                    "waits longer)" % (where, self.topic, self.timeout_s, _lost(lost))
                )
        seen = len(lost)
        client.disconnect()
        wait(lambda: len(lost) > seen or not connected, extra_s=5.0)  # the socket closed before the loop stops
        client.loop_stop()
        client.on_publish = None
        detach(client)
        return problem


def _lost(disconnects: List[str]) -> str:
    return " (disconnected: %s)" % disconnects[-1] if disconnects else ""
