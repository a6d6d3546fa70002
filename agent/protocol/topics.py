"""Topics, ids and broker URLs: where messages go on the broker.

Topics (MQTT 3.1.1; the ``+`` wildcard is the device id)::

    edgeprof/v1/devices/<id>/status    agent -> host, signed AgentStatus, retained, last will "offline"
    edgeprof/v1/devices/<id>/jobs      host -> agent, signed BenchmarkJob, QoS 1
    edgeprof/v1/devices/<id>/results   agent -> host, signed BenchmarkResult, QoS 1, repeated until acked
    edgeprof/v1/devices/<id>/batches   agent -> host, signed ResultBatch (a backlog of results), QoS 1
    edgeprof/v1/devices/<id>/acks      host -> agent, signed ResultAck bound to <id>, QoS 1
    edgeprof/v1/devices/<id>/jobstate  agent -> host, signed JobState (accepted, running, failed...), QoS 1
    edgeprof/v1/devices/<id>/refusals  agent -> host, signed Refusal (bad signature, disk full...), QoS 1
    edgeprof/v1/devices/<id>/monitor   agent -> host, signed MonitorSummary (``monitor --broker``), QoS 1, retained

A device publishes only under its own ``<id>`` and reads only its own jobs and acks: the broker's
ACL can say so with one pattern per topic (``scripts/mosquitto/edgeprof.acl``).
"""

from __future__ import annotations

import re
import socket
from typing import Any, Dict
from urllib.parse import urlparse

from agent.errors import ProtocolError

PROTOCOL_VERSION = 2
TOPIC_ROOT = "edgeprof/v1"
#: Larger payloads are refused before parsing: results are kilobytes, and a forged huge message must
#: not exhaust a device's memory.
MAX_PAYLOAD_BYTES = 1_000_000
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is safe in a topic and as a file name, else raise ProtocolError."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value) or value in (".", ".."):
        raise ProtocolError(
            "%s %r is not valid: use 1-64 ASCII letters, digits, '.', '_' or '-', starting with a "
            "letter or digit" % (what, value)
        )
    return value


def check_device_id(device_id: str) -> str:
    return check_id(device_id, "device id")


def local_device_id() -> str:
    """The default id of an agent on this machine: ``local-<hostname>``, made topic-safe."""
    host = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in socket.gethostname())
    host = host or "host"
    return ("local-" + host)[:64]


def device_topic(device_id: str, kind: str) -> str:
    return "%s/devices/%s/%s" % (TOPIC_ROOT, check_device_id(device_id), kind)


def job_topic(device_id: str) -> str:
    return device_topic(device_id, "jobs")


def result_topic(device_id: str) -> str:
    return device_topic(device_id, "results")


def ack_topic(device_id: str) -> str:
    return device_topic(device_id, "acks")


def status_topic(device_id: str) -> str:
    return device_topic(device_id, "status")


def batch_topic(device_id: str) -> str:
    return device_topic(device_id, "batches")


def jobstate_topic(device_id: str) -> str:
    return device_topic(device_id, "jobstate")


def refusal_topic(device_id: str) -> str:
    return device_topic(device_id, "refusals")


def monitor_topic(device_id: str) -> str:
    return device_topic(device_id, "monitor")


def parse_broker_url(url: str) -> Dict[str, Any]:
    """mqtt://[user:pass@]host[:port] or mqtts://... -> connection settings."""
    parsed = urlparse(url if "://" in url else "mqtt://" + url)
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ProtocolError("broker URL %r: scheme must be mqtt:// or mqtts://" % url)
    if not parsed.hostname:
        raise ProtocolError("broker URL %r has no host: use mqtt://HOST:PORT" % url)
    tls = parsed.scheme in ("mqtts", "ssl")
    try:
        port = parsed.port or (8883 if tls else 1883)
    except ValueError:
        raise ProtocolError("broker URL %r has an invalid port" % url) from None
    return {
        "host": parsed.hostname,
        "port": port,
        "tls": tls,
        "username": parsed.username,
        "password": parsed.password,
    }


STATUS_WILDCARD = "%s/devices/+/status" % TOPIC_ROOT
RESULT_WILDCARD = "%s/devices/+/results" % TOPIC_ROOT
BATCH_WILDCARD = "%s/devices/+/batches" % TOPIC_ROOT
JOBSTATE_WILDCARD = "%s/devices/+/jobstate" % TOPIC_ROOT
REFUSAL_WILDCARD = "%s/devices/+/refusals" % TOPIC_ROOT
MONITOR_WILDCARD = "%s/devices/+/monitor" % TOPIC_ROOT


def device_id_from_topic(topic: str) -> str:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != TOPIC_ROOT + "/devices":
        raise ProtocolError("topic %r is not an edgeprof device topic" % topic)
    return check_device_id(parts[3])
