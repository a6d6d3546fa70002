"""What a result reports about one variant: timed windows, their latency, power, accuracy, memory,
per-layer profile and validity verdict.

Frozen dataclasses like the messages in :mod:`agent.protocol.messages` that carry them (the
codec builds them from JSON). Annotations use ``typing`` generics: the codec resolves them at run
time, and Python 3.8 cannot evaluate ``list[int]``.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional


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
