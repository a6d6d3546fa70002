"""One typed record per (variant, device, batch size), built once from the agents' results.

Ranking, the recommendation, both reports and ``results.json`` read these attributes; nothing
downstream re-derives a figure. Accuracy loss in particular is decided once, as the records are
built (:mod:`pipeline.accuracy_loss`): against the FP32 build measured on the same device where labels
exist, else fidelity to the FP32 outputs.

Field names follow the public ``results.json`` contract (README.md), so that :mod:`pipeline.export`
can write a record field by field; where the contract's name differs, the field's ``metadata``
carries it (``{"json": "loss_abs"}``). A new figure is one field here, and it reaches
``results.json`` without touching the exporter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.protocol import (
    AgentStatus,
    BenchmarkResult,
    LatencyStats,
    LayerTime,
    Measurement,
    MemoryUse,
    PowerReport,
    ThroughputAtSLA,
    Validity,
)
from pipeline.accuracy_loss import Accuracy, accuracy_of, fp32_references
from pipeline.cost import Cost
from pipeline.passes.sparsity import sparsity_note
from pipeline.repeats import Spread, figure_spread, median_or_none
from pipeline.roofline import MemoryFit, Roofline


@dataclass(frozen=True, kw_only=True)
class Conditions:
    """Temperatures (``temp_c:<zone>``, °C; ``trip_c:<zone>``) and clocks (``cpu_mhz:max``, MHz)
    read just before warm-up and just after the measured window."""

    before: Mapping[str, float] = field(default_factory=dict)
    after: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One timed window of one variant on one device at one batch size (and one number of queries
    in flight), with its provenance.

    Energy has one meaning per field: ``energy_j_per_inference`` and ``inferences_per_joule`` are
    gross (the whole source, idle included), the ``*_above_idle`` pair subtracts the idle power the
    device measured (or assumed) before the job; either is None when it cannot be known.
    """

    id: str  # <variant_id>/<device_id>/b<batch>, and c<n> after it with n queries in flight
    variant_id: str
    runtime: str
    runtime_version: str
    precision: str
    device_id: str
    target: str  # the device's matched profile in targets/, "" if unknown
    batch_size: int
    throughput_ips: float  # inferences per second over the measured window
    latency_ms: LatencyStats  # per query
    queries: int
    samples: int
    duration_s: float
    power: PowerReport | None
    energy_j_per_inference: float | None
    inferences_per_joule: float | None
    accuracy: Accuracy | None
    artifact_sha256: str
    model_size_bytes: int | None
    artifact_kind: str  # the artifact kind measured (agent.protocol.ARTIFACT_KINDS), "" if unknown
    #: what the runtime really used once loaded: threads, providers, the precision it ran in
    runtime_settings: Mapping[str, Any] = field(default_factory=dict)
    power_mode: str = ""  # the device's power mode during the window (nvpmodel's name), "" if it has none
    valid: bool
    throttled: bool = False
    conditions: Conditions = field(default_factory=Conditions)
    notes: tuple[str, ...] = ()
    #: Figures derived from the measurement and the device's profile (pipeline/derive.py), each with
    #: its inputs and their provenance; None where an input is missing (a note says which).
    cost: Cost | None = None  # cost per million inferences (pipeline/cost.py)
    roofline: Roofline | None = None  # against the device's roofline (pipeline/roofline.py)
    memory_fit: MemoryFit | None = None  # bytes one query needs against the device's memory
    #: why the window can be trusted or not, with the raw figures the agent judged
    validity: Validity | None = None
    energy_above_idle_j_per_inference: float | None = None
    inferences_per_joule_above_idle: float | None = None
    concurrency: int = 1  # queries in flight during the window
    #: the variant's highest throughput whose p99 met the SLA on this device (the same on every
    #: record of the variant and device); None without an SLA or when none met it
    throughput_at_sla: ThroughputAtSLA | None = None
    layer_profile: tuple[LayerTime, ...] = ()  # top operators by time, from a separate profiled pass
    memory: MemoryUse | None = None  # the worker's resident set and its peak after this window
    input_shapes: Mapping[str, list[int]] = field(default_factory=dict)  # as fed, batch axis included
    #: windows measured for this record (``--repeats``); with more than one, the headline figures are
    #: medians and ``spread`` has each figure's values, range and interval for the median
    repeats: int = 1
    spread: Spread | None = None

    @property
    def power_estimated(self) -> bool:
        """True when the power figure is an estimate, not a measurement."""
        return self.power is not None and bool(self.power.estimated)

    @property
    def accuracy_loss(self) -> float | None:
        return self.accuracy.loss if self.accuracy is not None else None

    @property
    def loss_is_fidelity(self) -> bool:
        """True when the accuracy loss is fidelity to FP32 (no labels), not labelled top-1 loss."""
        return self.accuracy is not None and self.accuracy.is_fidelity

    @property
    def is_fp32(self) -> bool:
        return self.precision.lower() in ("fp32", "float32")


@dataclass(frozen=True)
class Failure:
    """A variant that produced no measurement on a device: failed to build, or failed there."""

    variant_id: str
    device_id: str
    error: str  # one line


def record_id(variant_id: str, device_id: str, batch_size: int, concurrency: int = 1) -> str:
    in_flight = f"c{concurrency}" if concurrency > 1 else ""
    return f"{variant_id}/{device_id}/b{batch_size}{in_flight}"


def build_records(
    results: Sequence[BenchmarkResult],
    artifacts: Mapping[str, Mapping[str, Any]],
    devices: Mapping[str, AgentStatus],
    host_top1: float | None,
    metric: str = "top1",
) -> tuple[list[Record], list[Failure]]:
    """Records for every measurement of the ``ok`` results; one :class:`Failure` per failed result.

    ``artifacts`` maps variant id to ``{"sha256", "size_bytes", "kind"}`` (the store's view of the
    build); ``host_top1`` is the FP32 top-1 computed on the host, the reference of last resort;
    ``metric`` (:data:`~pipeline.accuracy_loss.METRICS`) is what the loss measures: top-1 against
    labels (falling back to agreement where there are none), agreement, or cosine.
    """
    oks = _ok_by_build(results)
    device_ref = fp32_references([group[-1] for group in oks.values()])
    sharing = shared_machines(devices, {r.device_id for r in results})
    records: list[Record] = []
    failures = [Failure(r.variant_id, r.device_id, " ".join(r.error.split())) for r in results if r.status != "ok"]
    for (variant_id, device_id), group in oks.items():
        env_notes = [str(n) for n in group[-1].environment.get("notes", [])]
        if device_id in sharing:
            env_notes.append(
                f"{device_id} shares one machine with {', '.join(sharing[device_id])}: not an independent "
                "measurement (agents on one machine compete for its CPUs, memory and power)"
            )
        status = devices.get(device_id)
        art = artifacts.get(variant_id, {})
        if art.get("sparsity"):  # say what the zeros buy on this runtime: never a speed-up a dense kernel lacks
            env_notes.append(sparsity_note(str(art["sparsity"]), group[-1].runtime))
        for windows in _windows_by_point(group):
            r, m, spread, medians, repeat_notes = _representative(windows)
            accuracy, acc_notes = accuracy_of(r, m, device_ref, host_top1, metric)
            records.append(
                Record(
                    id=record_id(r.variant_id, r.device_id, m.batch_size, m.concurrency),
                    variant_id=r.variant_id,
                    runtime=r.runtime,
                    runtime_version=r.runtime_version,
                    precision=r.precision,
                    device_id=r.device_id,
                    target=status.target if status and status.target else "",
                    batch_size=m.batch_size,
                    throughput_ips=medians["throughput_ips"] or m.throughput_ips,
                    latency_ms=medians["latency_ms"],
                    queries=m.queries,
                    samples=m.samples,
                    duration_s=m.duration_s,
                    power=m.power,
                    energy_j_per_inference=medians["energy_j_per_inference"],
                    inferences_per_joule=medians["inferences_per_joule"],
                    accuracy=accuracy,
                    artifact_sha256=str(art.get("sha256", "")),
                    model_size_bytes=art.get("size_bytes"),
                    # What the device says it measured; the store's record of the build otherwise.
                    artifact_kind=r.artifact_kind or str(art.get("kind", "")),
                    runtime_settings=dict(r.runtime_settings),
                    power_mode=r.power_mode,
                    valid=medians["valid"],
                    throttled=m.throttled,
                    conditions=Conditions(before=dict(m.conditions_before), after=dict(m.conditions_after)),
                    notes=tuple(list(m.notes) + repeat_notes + acc_notes + env_notes),
                    validity=m.validity,
                    energy_above_idle_j_per_inference=medians["energy_above_idle_j_per_inference"],
                    inferences_per_joule_above_idle=medians["inferences_per_joule_above_idle"],
                    concurrency=m.concurrency,
                    throughput_at_sla=r.throughput_at_sla,
                    layer_profile=tuple(m.layer_profile),
                    memory=m.memory,
                    input_shapes={k: list(v) for k, v in m.input_shapes.items()},
                    repeats=len(windows),
                    spread=spread,
                )
            )
    return records, failures


#: The figures a record's median is taken of, read off one window.
_FIGURES = {
    "throughput_ips": lambda m: m.throughput_ips,
    "inferences_per_joule": lambda m: m.inferences_per_joule,
    "inferences_per_joule_above_idle": lambda m: m.inferences_per_joule_above_idle,
    "energy_j_per_inference": lambda m: m.energy_j_per_inference,
    "energy_above_idle_j_per_inference": lambda m: m.energy_above_idle_j_per_inference,
    "latency_p50_ms": lambda m: m.latency_ms.p50,
    "latency_p99_ms": lambda m: m.latency_ms.p99,
    # the window's power, gross and above idle: what a cost interval needs beside the throughput's
    "power_avg_w": lambda m: m.power.avg_w if m.power is not None else None,
    "power_above_idle_w": lambda m: m.power.above_idle_w if m.power is not None else None,
}

#: The figures a record carries as its own fields (the rest have a spread only).
_MEDIAN_FIELDS = (
    "throughput_ips",
    "inferences_per_joule",
    "inferences_per_joule_above_idle",
    "energy_j_per_inference",
    "energy_above_idle_j_per_inference",
)

Window = tuple[BenchmarkResult, Measurement]


def _ok_by_build(results: Sequence[BenchmarkResult]) -> dict[tuple[str, str], list[BenchmarkResult]]:
    """(variant, device) -> its ``ok`` results in the order they finished. Each is one round of
    ``--repeats`` (or a job sent again): every one is a measurement, and all of them count."""
    groups: dict[tuple[str, str], list[BenchmarkResult]] = {}
    for r in results:
        if r.status == "ok":
            groups.setdefault((r.variant_id, r.device_id), []).append(r)
    return {key: sorted(group, key=lambda r: r.finished_at) for key, group in groups.items()}


def _windows_by_point(group: Sequence[BenchmarkResult]) -> list[list[Window]]:
    """The windows of each (batch size, concurrency) over the results of one build on one device, in
    the order the latest result lists its measurements."""
    points: dict[tuple[int, int], list[Window]] = {}
    for r in reversed(group):  # the latest result's order first
        for m in r.measurements:
            points.setdefault((m.batch_size, m.concurrency), []).insert(0, (r, m))
    return list(points.values())


def _representative(
    windows: Sequence[Window],
) -> tuple[BenchmarkResult, Measurement, Spread | None, dict[str, Any], list[str]]:
    """The window a record's other figures (power, queries, conditions) come from, the spread over the
    windows, the medians the record carries, and notes. The medians are over the valid windows (all
    of them when none was valid); the representative is the window whose throughput is nearest the
    median (the later on a tie). One window: its own figures, no spread."""
    valid = [w for w in windows if w[1].valid]
    pool = valid or list(windows)
    r, m = pool[-1]
    one: dict[str, Any] = {name: _finite(read(m)) for name, read in _FIGURES.items() if name in _MEDIAN_FIELDS}
    one.update(latency_ms=m.latency_ms, valid=m.valid)
    if len(windows) == 1:
        return r, m, None, one, []
    figures = {name: [read(w[1]) for w in pool] for name, read in _FIGURES.items()}
    tput = median_or_none(figures["throughput_ips"]) or 0.0
    r, m = min(reversed(pool), key=lambda w: abs(w[1].throughput_ips - tput))
    spreads = {name: s for name, values in figures.items() if (s := figure_spread(values)) is not None}
    medians: dict[str, Any] = {name: median_or_none(values) for name, values in figures.items()}
    # energy per inference as the inverse of the median inf/J: the two fields stay one figure (with an
    # even N the median of the inverses is not the inverse of the median)
    for energy, ipj in (
        ("energy_j_per_inference", "inferences_per_joule"),
        ("energy_above_idle_j_per_inference", "inferences_per_joule_above_idle"),
    ):
        if medians[ipj]:
            medians[energy] = 1.0 / medians[ipj]
    lat = [w[1].latency_ms for w in pool]
    medians["latency_ms"] = LatencyStats(
        p50=median_or_none([x.p50 for x in lat]) or m.latency_ms.p50,
        p90=median_or_none([x.p90 for x in lat]) or m.latency_ms.p90,
        p99=median_or_none([x.p99 for x in lat]) or m.latency_ms.p99,
        mean=median_or_none([x.mean for x in lat]) or m.latency_ms.mean,
        min=min(x.min for x in lat),
        max=max(x.max for x in lat),
        stdev=m.latency_ms.stdev,
    )
    medians["valid"] = bool(valid)
    rounds = [i + 1 for i, w in enumerate(windows) if w[1] is m]
    notes = [
        f"median of {len(pool)} windows (--repeats, interleaved across variants): throughput, energy and "
        f"latency percentiles; power, queries and conditions are from window {rounds[0]} of {len(windows)}, "
        "the one nearest the median throughput"
    ]
    if valid and len(valid) < len(windows):
        notes.append(f"{len(windows) - len(valid)} of {len(windows)} windows invalid: left out of the median")
    spread = Spread(n=len(pool), windows=len(windows), figures=spreads)
    return r, m, spread, medians, notes


def shared_machines(devices: Mapping[str, AgentStatus], measured: set[str]) -> dict[str, list[str]]:
    """Device id -> the other measured devices announcing the same machine id (or, without one, the same
    host name): their figures are not independent (design.md: 20 agents on 2 cores, 21-29/s each)."""
    by_machine: dict[str, list[str]] = {}
    for device_id in sorted(measured):
        status = devices.get(device_id)
        machine = status and (status.machine_id or status.hostname)
        if machine:
            by_machine.setdefault(machine, []).append(device_id)
    return {d: [o for o in ids if o != d] for ids in by_machine.values() if len(ids) > 1 for d in ids}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
