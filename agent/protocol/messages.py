"""The messages host and agents exchange: jobs, results, acknowledgements, presence.

What a result holds (the measurements, their power, accuracy and validity) is in
:mod:`agent.protocol.measurements`.

Each is a frozen dataclass whose fields are validated when it is built, so a decoded message is a
checked one (:mod:`agent.protocol.codec` builds them from JSON). Annotations use ``typing``
generics: the codec resolves them at run time, and Python 3.8 cannot evaluate ``list[int]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Optional

from agent.errors import ProtocolError
from agent.protocol.artifacts import ArtifactRef
from agent.protocol.measurements import AccuracyReport, Measurement, ThroughputAtSLA
from agent.protocol.topics import PROTOCOL_VERSION, check_device_id, check_id


@dataclasses.dataclass(frozen=True)
class BenchmarkJob:
    """One variant to measure on one device. Signed by the host; the agent verifies before running."""

    job_id: str
    run_id: str
    variant_id: str
    device_id: str
    issued_at: float  # unix seconds
    expires_at: float  # unix seconds; the agent refuses a job past this
    model: ArtifactRef  # the build's manifest (MANIFEST_MEDIA_TYPE); see agent.protocol.artifacts
    runtime: str  # "onnxruntime", "openvino", "tensorrt"
    precision: str  # "fp32", "fp16", "int8-static", "int8-dynamic", ...
    batch_sizes: List[int]
    eval_data: Optional[ArtifactRef] = None
    runtime_options: Dict[str, Any] = dataclasses.field(default_factory=dict)
    #: input name -> full shape (batch first) for axes the model leaves dynamic besides batch
    input_shapes: Dict[str, List[int]] = dataclasses.field(default_factory=dict)
    warmup_s: float = 0.5
    min_duration_s: float = 2.0
    min_queries: int = 50
    max_accuracy_samples: int = 0  # 0 = the whole evaluation set
    sla_p99_ms: Optional[float] = None
    deadline_s: float = 600.0  # wall-clock limit for the whole job on the device
    #: Jetson power mode to measure in: a target-profile or nvpmodel.conf name, or an nvpmodel id;
    #: "" = the mode the device is in. The agent switches, lets clocks settle, and restores after.
    power_mode: str = ""
    fixed_clocks: bool = False  # pin clocks at the mode's maximum (jetson_clocks) for the job
    signature: str = ""  # the host's Ed25519 signature (agent.signing)
    signature_alg: str = "ed25519"
    #: queries per window instead of a duration (trtexec --iterations, benchmark_app -niter); 0 = by duration
    iterations: int = 0
    #: CPU threads for the runtime (ORT intra-op, OpenVINO inference threads); 0 = the runtime option or default
    threads: int = 0
    #: per-layer profile (top operators by time) in a separate short pass after each window
    profile_layers: bool = False
    #: requests in flight per window, swept at each batch size (OpenVINO async requests, ORT threads)
    concurrency: List[int] = dataclasses.field(default_factory=lambda: [1])
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
        if self.power_mode:
            check_id(self.power_mode, "power mode")
        if self.iterations < 0 or self.threads < 0:
            raise ProtocolError("iterations and threads must be >= 0 (0 = not set)")
        if not self.concurrency or any(c < 1 or c > 256 for c in self.concurrency):
            raise ProtocolError("concurrency must be a non-empty list of integers in 1..256")


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
    #: what the runtime really used once loaded: threads, providers, the precision it ran in
    runtime_settings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    artifact_kind: str = ""
    measurements: List[Measurement] = dataclasses.field(default_factory=list)
    #: the largest batch size's accuracy (each measurement carries its own, at its batch size)
    accuracy: Optional[AccuracyReport] = None
    error: str = ""
    environment: Dict[str, Any] = dataclasses.field(default_factory=dict)
    #: the power mode the job ran in (nvpmodel's name on a Jetson), "" where the device has none;
    #: details (id, clocks after settling, whether the previous mode was restored) in environment
    power_mode: str = ""
    throughput_at_sla: Optional[ThroughputAtSLA] = None  # None without an SLA or when none meets it
    schema_version: int = PROTOCOL_VERSION
    signature: str = ""  # the device's Ed25519 signature (agent.signing); the host refuses unsigned results

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        check_id(self.result_id, "result id")
        check_id(self.job_id, "job id")
        check_id(self.run_id, "run id")
        check_id(self.variant_id, "variant id")
        if self.status not in ("ok", "failed"):
            raise ProtocolError("result status must be 'ok' or 'failed', not %r" % self.status)
        notes = self.environment.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise ProtocolError("environment.notes must be a list of strings, not %r" % (notes,))


@dataclasses.dataclass(frozen=True)
class ResultBatch:
    """Several results of one device in one message, signed once by the device.

    A device with a backlog (the host was away) sends its outbox in batches: one message and one
    signature check per batch instead of per result is what lets the host keep up with a burst from
    many devices. Each result keeps its own signature inside, as stored in the outbox."""

    device_id: str
    results: List[BenchmarkResult]
    ts: float
    signature: str = ""
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if not self.results:
            raise ProtocolError("a result batch must hold at least one result")
        for r in self.results:
            if r.device_id != self.device_id:
                raise ProtocolError("a batch of %s holds a result of %s" % (self.device_id, r.device_id))


@dataclasses.dataclass(frozen=True)
class ResultAck:
    """The host has stored these results of ``device_id``; that device may drop them from its outbox.

    Signed by the host and bound to the device: an ack deletes data on the device, so only the host
    may send one, and an ack meant for one device deletes nothing on another."""

    result_ids: List[str]
    signature: str = ""
    schema_version: int = PROTOCOL_VERSION
    device_id: str = ""
    ts: float = 0.0  # unix seconds, when the host sent it


#: Where a job is, as the agent reports it (``JobState.state``) and the host records it; the host
#: adds ``queued`` (issued, nothing heard yet) and ``timed_out`` (past its deadline on the host).
JOB_STATES = (
    "queued",
    "accepted",
    "downloading",
    "building",
    "running",
    "done",
    "failed",
    "timed_out",
    "cancelled",
)
#: States after which nothing more happens to a job.
FINAL_JOB_STATES = ("done", "failed", "timed_out", "cancelled")


@dataclasses.dataclass(frozen=True)
class JobState:
    """A job moved on the device (accepted, downloading, running, failed...). Signed by the device."""

    device_id: str
    job_id: str
    state: str  # one of JOB_STATES
    ts: float  # unix seconds on the device
    run_id: str = ""
    detail: str = ""  # one line: why it failed, which attempt after a restart, ...
    attempt: int = 1
    signature: str = ""
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        check_id(self.job_id, "job id")
        if self.state not in JOB_STATES:
            raise ProtocolError("job state %r is not one of %s" % (self.state, ", ".join(JOB_STATES)))
        if not math.isfinite(self.ts):
            raise ProtocolError("ts must be a finite number")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The device refused a message addressed to it (bad signature, expired, replayed, no storage).

    Signed by the device and sent at once, so a key mistake or a full disk shows on the host now,
    not when its deadline passes. ``subject`` is "job" or "ack"; ``subject_id`` the job id (or "")."""

    device_id: str
    subject: str
    subject_id: str
    reason: str
    ts: float
    signature: str = ""
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if self.subject not in ("job", "ack", "message"):
            raise ProtocolError("refusal subject must be job, ack or message, not %r" % self.subject)
        if not math.isfinite(self.ts):
            raise ProtocolError("ts must be a finite number")


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
    #: /etc/machine-id where there is one: agents with the same one share a machine (not independent)
    machine_id: str = ""
    current_job: str = ""  # the job id running now, "" when idle
    host_key: str = ""  # fingerprint of the host public key this device trusts
    refused: Dict[str, int] = dataclasses.field(default_factory=dict)  # reason kind -> count since start
    signature: str = ""  # the device's Ed25519 signature; the last will is signed too
