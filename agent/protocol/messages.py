"""The messages host and agents exchange: jobs, results, acknowledgements, presence.

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

    One meaning per field: ``avg_w`` and ``energy_j`` are *gross* (everything the source covers,
    idle included); ``above_idle_w`` and ``energy_above_idle_j`` subtract ``idle_w``. A figure that
    cannot be known is None: a CPU-load estimate without an idle figure knows only the part above
    idle. ``idle_source`` says where ``idle_w`` came from ("measured ...", "assumed ...", "unknown ...").
    ``rate_hz`` is the rate the readings inside the window achieved, ``nominal_rate_hz`` the rate
    the sensor claims; ``max_gap_s`` the longest gap between readings. ``energy_uncertainty_j``
    bounds the error that ``timestamp_uncertainty_s`` (how far a reading's time may be off) allows.
    """

    avg_w: Optional[float]
    source: str
    estimated: bool
    samples: int
    rate_hz: float
    energy_j: Optional[float]
    idle_w: Optional[float] = None
    method: str = ""
    rails_w: Dict[str, float] = dataclasses.field(default_factory=dict)
    above_idle_w: Optional[float] = None
    energy_above_idle_j: Optional[float] = None
    idle_source: str = ""
    nominal_rate_hz: float = 0.0
    max_gap_s: float = 0.0
    timestamp_uncertainty_s: float = 0.0
    energy_uncertainty_j: Optional[float] = None


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
class Validity:
    """Why one measurement can be trusted, or why not: the verdict, its reasons, the raw figures.

    ``valid`` is False when any reason is given. The figures are what the rules judged: the window
    (seconds, queries), the latency spread, whether the p99 is a measurement (at least
    ``p99_min_queries`` queries, so that ten or more lie above it) or an interpolation of the slowest
    few, the power readings (count, achieved and nominal rate, longest gap; ``power_refused`` says why
    a figure was refused), throttling, and the CPU time of the worker and of every other process on
    the CPUs the worker could use (``foreign_load`` = that foreign CPU time over the window's CPU
    capacity, 0..1).
    """

    valid: bool = True
    reasons: List[str] = dataclasses.field(default_factory=list)
    window_s: float = 0.0
    queries: int = 0
    min_queries: int = 0
    min_duration_s: float = 0.0
    p99_min_queries: int = 0
    p99_is_interpolation: bool = False
    latency_cv: float = 0.0  # stdev / mean of the per-query latency
    p99_over_p50: float = 0.0
    throttled: bool = False
    power_samples: Optional[int] = None
    power_rate_hz: Optional[float] = None  # achieved inside the window
    power_nominal_rate_hz: Optional[float] = None
    power_max_gap_s: Optional[float] = None
    power_refused: str = ""
    cpus: Optional[int] = None  # CPUs the worker may run on
    worker_cpu_s: Optional[float] = None
    foreign_cpu_s: Optional[float] = None
    foreign_load: Optional[float] = None
    foreign_load_max: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class LayerTime:
    """One operator type's share of a per-layer profile (ONNX Runtime profiler, OpenVINO counters)."""

    op_type: str  # "Conv", "MatMul", "Convolution", ...
    time_ms: float  # mean time per query spent in nodes of this type, ms
    share: float  # of the summed operator time, 0..1
    nodes: int  # how many nodes of this type ran
    detail: str = ""  # the kernel or execution type where the runtime names it


@dataclasses.dataclass(frozen=True)
class MemoryUse:
    """Memory of the worker process after a window: resident set now and its high-water mark (MiB,
    from /proc/self/status VmRSS and VmHWM), and device memory where the runtime exposes it."""

    rss_mib: Optional[float] = None
    peak_rss_mib: Optional[float] = None
    device_mib: Dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ThroughputAtSLA:
    """The highest throughput among a variant's valid measurements whose p99 meets the SLA."""

    throughput_ips: float
    batch_size: int
    concurrency: int
    p99_ms: float
    sla_p99_ms: float


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One timed window at one batch size (and one concurrency level)."""

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
    #: why the window can be trusted or not; ``valid`` above repeats its verdict
    validity: Optional[Validity] = None
    #: above-idle figures; the two above are gross (see PowerReport)
    energy_above_idle_j_per_inference: Optional[float] = None
    inferences_per_joule_above_idle: Optional[float] = None
    #: accuracy measured at this batch size's own runs
    accuracy: Optional[AccuracyReport] = None
    concurrency: int = 1  # requests in flight during the window
    input_shapes: Dict[str, List[int]] = dataclasses.field(default_factory=dict)
    layer_profile: List[LayerTime] = dataclasses.field(default_factory=list)
    memory: Optional[MemoryUse] = None


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
