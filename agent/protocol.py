"""The wire protocol between host and agents: topics, message schemas, protocol version.

This is the one module both sides import, so that the two ends cannot drift. It must stay importable
on Python 3.8 with the standard library alone (annotations use ``typing`` generics for that reason).

Messages are JSON objects; each carries ``schema_version``. Decoding validates every field and raises
:class:`agent.errors.ProtocolError` naming the offending path, so a malformed or forged message is
refused with a clear reason instead of crashing a handler.

Topics (MQTT 3.1.1; the ``+`` wildcard is the device id)::

    edgeprof/v1/devices/<id>/status    agent -> host, retained, last will "offline"
    edgeprof/v1/devices/<id>/jobs      host -> agent, signed BenchmarkJob, QoS 1
    edgeprof/v1/devices/<id>/results   agent -> host, BenchmarkResult, QoS 1, repeated until acked
    edgeprof/v1/devices/<id>/acks      host -> agent, ResultAck, QoS 1
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import socket
import sys
from typing import Any, Dict, List, Optional, Type, TypeVar, Union, get_type_hints
from urllib.parse import urlparse

from agent.errors import ProtocolError

PROTOCOL_VERSION = 1
TOPIC_ROOT = "edgeprof/v1"
#: Larger payloads are refused before parsing: results are kilobytes, and a forged huge message must
#: not exhaust a device's memory.
MAX_PAYLOAD_BYTES = 1_000_000
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

T = TypeVar("T")


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


def device_id_from_topic(topic: str) -> str:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != TOPIC_ROOT + "/devices":
        raise ProtocolError("topic %r is not an edgeprof device topic" % topic)
    return check_device_id(parts[3])


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArtifactRef:
    """A content-addressed file the agent downloads over HTTP and verifies before use."""

    sha256: str
    url: str
    size_bytes: int
    media_type: str  # "model/onnx", "application/x-npz", ...

    def __post_init__(self) -> None:
        if not re.match(r"^[0-9a-f]{64}$", self.sha256):
            raise ProtocolError("artifact sha256 %r is not 64 lowercase hex digits" % self.sha256)
        if not self.url.startswith(("http://", "https://")):
            raise ProtocolError("artifact url %r is not http(s)" % self.url)
        if self.size_bytes < 0:
            raise ProtocolError("artifact size_bytes must be >= 0")


@dataclasses.dataclass(frozen=True)
class BenchmarkJob:
    """One variant to measure on one device. Signed by the host; the agent verifies before running."""

    job_id: str
    run_id: str
    variant_id: str
    device_id: str
    issued_at: float  # unix seconds
    expires_at: float  # unix seconds; the agent refuses a job past this
    model: ArtifactRef
    runtime: str  # "onnxruntime", "openvino", "tensorrt"
    precision: str  # "fp32", "fp16", "int8-static", "int8-dynamic", ...
    batch_sizes: List[int]
    eval_data: Optional[ArtifactRef] = None
    runtime_options: Dict[str, Any] = dataclasses.field(default_factory=dict)
    warmup_s: float = 0.5
    min_duration_s: float = 2.0
    min_queries: int = 50
    max_accuracy_samples: int = 0  # 0 = the whole evaluation set
    sla_p99_ms: Optional[float] = None
    deadline_s: float = 600.0  # wall-clock limit for the whole job on the device
    signature: str = ""
    signature_alg: str = "hmac-sha256"
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        check_id(self.job_id, "job id")
        check_id(self.run_id, "run id")
        check_id(self.variant_id, "variant id")
        for name in ("issued_at", "expires_at", "warmup_s", "min_duration_s", "deadline_s"):
            if not math.isfinite(getattr(self, name)):
                raise ProtocolError("%s must be a finite number" % name)
        if not self.batch_sizes or any(b < 1 or b > 4096 for b in self.batch_sizes):
            raise ProtocolError("batch_sizes must be a non-empty list of integers in 1..4096")
        if self.min_duration_s <= 0 or self.warmup_s < 0 or self.min_queries < 1:
            raise ProtocolError("min_duration_s must be > 0, warmup_s >= 0 and min_queries >= 1")
        if self.deadline_s <= 0:
            raise ProtocolError("deadline_s must be > 0")


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Per-query latency in milliseconds (one query = one batch)."""

    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float
    stdev: float


@dataclasses.dataclass(frozen=True)
class PowerReport:
    """Power over the measured window, with where it came from.

    ``source`` names the sensor ("ina3221:VDD_IN", "rapl:package-0", "nvml:gpu0", "estimate:cpu-load").
    ``estimated`` is True for anything that is not a measurement; ``method`` says how it was obtained.
    """

    avg_w: float
    source: str
    estimated: bool
    samples: int
    rate_hz: float
    energy_j: float
    idle_w: Optional[float] = None
    method: str = ""
    rails_w: Dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AccuracyReport:
    """Accuracy on the device's evaluation run.

    ``top1`` is against labels (None when the set has none); ``agreement`` and ``cosine`` compare the
    variant's outputs with the FP32 reference outputs computed on the host.
    """

    samples: int
    top1: Optional[float] = None
    agreement: Optional[float] = None
    cosine: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One timed window at one batch size."""

    batch_size: int
    throughput_ips: float  # inferences (samples, not batches) per second over the measured window
    latency_ms: LatencyStats
    queries: int  # timed calls to the runtime
    samples: int  # inferences = queries * batch_size
    duration_s: float
    valid: bool
    power: Optional[PowerReport] = None
    energy_j_per_inference: Optional[float] = None
    inferences_per_joule: Optional[float] = None
    notes: List[str] = dataclasses.field(default_factory=list)
    #: temperatures (C) and clocks (MHz) read just before warm-up and just after the window
    conditions_before: Dict[str, float] = dataclasses.field(default_factory=dict)
    conditions_after: Dict[str, float] = dataclasses.field(default_factory=dict)
    throttled: bool = False  # clocks fell or a zone ran hot during the window (see notes)


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """What an agent reports for one job. Kept in the agent's outbox until the host acks it."""

    result_id: str
    job_id: str
    run_id: str
    variant_id: str
    device_id: str
    status: str  # "ok" or "failed"
    runtime: str
    precision: str
    started_at: float
    finished_at: float
    agent_version: str
    runtime_version: str = ""
    measurements: List[Measurement] = dataclasses.field(default_factory=list)
    accuracy: Optional[AccuracyReport] = None
    error: str = ""
    environment: Dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        check_id(self.result_id, "result id")
        check_id(self.job_id, "job id")
        if self.status not in ("ok", "failed"):
            raise ProtocolError("result status must be 'ok' or 'failed', not %r" % self.status)


@dataclasses.dataclass(frozen=True)
class ResultAck:
    """The host has stored these results; the agent may drop them from its outbox.

    Signed like jobs: an ack deletes data on the device, so only the key holder may send one."""

    result_ids: List[str]
    signature: str = ""
    schema_version: int = PROTOCOL_VERSION


@dataclasses.dataclass(frozen=True)
class AgentStatus:
    """Retained presence message; the broker publishes the last-will copy (state "offline")."""

    device_id: str
    state: str  # "online" | "offline" | "busy"
    agent_version: str = ""
    protocol_version: int = PROTOCOL_VERSION
    runtimes: Dict[str, str] = dataclasses.field(default_factory=dict)  # name -> version
    power_sources: List[str] = dataclasses.field(default_factory=list)
    target: str = ""  # the matching profile id in targets/, "" if unknown
    hostname: str = ""
    ts: float = 0.0
    schema_version: int = PROTOCOL_VERSION


# --------------------------------------------------------------------------------------------------
# Encoding and validated decoding
# --------------------------------------------------------------------------------------------------


def to_dict(message: Any) -> Dict[str, Any]:
    return dataclasses.asdict(message)


def encode(message: Any) -> bytes:
    return json.dumps(to_dict(message), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def decode(cls: Type[T], payload: Union[bytes, str]) -> T:
    """Parse and validate a JSON payload into ``cls``; raise ProtocolError with the reason."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("message of %d bytes exceeds the %d-byte limit" % (len(payload), MAX_PAYLOAD_BYTES))
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("message is not valid UTF-8 JSON: %s" % exc) from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply to be an edgeprof message") from None
    return from_dict(cls, data)


def _refuse_constant(name: str) -> float:
    raise ValueError("%s is not a number edgeprof accepts" % name)


def from_dict(cls: Type[T], data: Any) -> T:
    if isinstance(data, dict):
        version = data.get("schema_version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                "%s has schema_version %r; this side speaks %d: upgrade the older of host and agent"
                % (cls.__name__, version, PROTOCOL_VERSION)
            )
    return _convert(cls, data, cls.__name__)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ProtocolError("%s: expected a list, got %s" % (path, type(value).__name__))
        return [_convert(args[0], v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (path, type(value).__name__))
        return {str(k): _convert(args[1], v, "%s.%s" % (path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (path, type(value).__name__))
        hints = get_type_hints(tp, globalns=vars(sys.modules[__name__]))
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ProtocolError("%s: unknown field(s) %s" % (path, ", ".join(unknown)))
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], "%s.%s" % (path, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise ProtocolError("%s: missing required field %r" % (path, name))
        try:
            return tp(**kwargs)
        except ProtocolError as exc:
            raise ProtocolError("%s: %s" % (path, exc)) from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ProtocolError("%s: expected true/false, got %r" % (path, value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("%s: expected an integer, got %r" % (path, value))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError("%s: expected a number, got %r" % (path, value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ProtocolError("%s: expected a string, got %r" % (path, value))
        return value
    raise TypeError("protocol has an unsupported field type %r at %s" % (tp, path))
