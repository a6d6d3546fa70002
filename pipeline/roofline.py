"""The roofline of one record: is its build memory- or compute-bound on its device at its batch size,
and how close does the measured throughput come to that bound?

Work and bytes per query come from :mod:`pipeline.graph_cost`, counted on each build's own graph (an
INT8 build's weights move a quarter of the FP32 bytes): ``flops`` (2 per multiply-add, integer ops
counted alike) and bytes moved = the weights, read once per query, plus the activations, written once
(:attr:`GraphCost.activation_bytes`). With the profile's peak for the precision the build ran in
(dense: a peak quoted with 2:4 sparsity is halved) and its memory bandwidth, in the device's power
mode:

- arithmetic intensity ``I = flops / bytes`` (FLOP/B); the ridge point ``peak / bandwidth``;
- memory-bound when ``I`` is below the ridge, compute-bound otherwise;
- the bound, in inferences/s: ``batch / max(flops / peak, bytes / bandwidth)``;
- the fraction: measured throughput / bound. A fraction above 1 means the bytes were overstated
  (activations that stayed in cache never reached memory).

Peaks and bandwidths are spec figures, so the bound is what the device could do at best; a small
fraction says the runtime's overheads, not the hardware, limit the build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.numbers import is_number
from pipeline.sourced import SourcedFigure, from_profile

if TYPE_CHECKING:
    from pipeline.record import Record
    from targets import TargetProfile

BOUNDS = ("memory", "compute")
#: Profile peak units -> operations per second.
_PER_SECOND = {"TFLOPS": 1e12, "TOPS": 1e12}
_BYTES_PER_SECOND = {"GB/s": 1e9}
COUNTED_ON_BUILD = "the build's own ONNX graph"
COUNTED_ON_SOURCE = "the source ONNX model ({kind} builds are not ONNX graphs): INT8 or FP16 weight bytes are not seen"


class RooflineUnavailable(ValueError):
    """No roofline for a record: the message names the missing figure and where to add it."""


@dataclass(frozen=True)
class GraphCount:
    """What the roofline needs from one build's graph at one batch size (see :mod:`pipeline.graph_cost`)."""

    batch: int
    flops: float  # per query
    weight_bytes: float
    activation_bytes: float  # per query
    counted_on: str  # which graph was counted
    lower_bound: bool = False  # some op had no rule or some shape was unknown

    @classmethod
    def from_json(cls, data: Mapping[str, Any], counted_on: str) -> GraphCount:
        weights = data.get("weight_bytes") or {}
        total = sum(weights.values()) if isinstance(weights, Mapping) else float(weights)
        return cls(
            batch=int(data["batch"]),
            flops=float(data["flops"]),
            weight_bytes=float(total),
            activation_bytes=float(data["activation_bytes"]),
            counted_on=counted_on,
            lower_bound=not data.get("shapes_known", True),
        )

    def at_batch(self, batch: int) -> GraphCount:
        """The count scaled to ``batch``: work and activations grow with it, weights do not."""
        scale = batch / self.batch
        return GraphCount(
            batch=batch,
            flops=self.flops * scale,
            weight_bytes=self.weight_bytes,
            activation_bytes=self.activation_bytes * scale,
            counted_on=self.counted_on + f" (counted at batch {self.batch}, scaled)",
            lower_bound=self.lower_bound,
        )


@dataclass(frozen=True, kw_only=True)
class Roofline:
    """One record against its device's roofline (units in the names: FLOP, bytes, per second)."""

    flops_per_inference: float  # FLOP (integer ops for an INT8 build)
    bytes_per_inference: float  # bytes moved: weights once per query, shared by its samples, plus activations
    weight_bytes: float  # bytes of weights, read once per query
    activation_bytes_per_inference: float  # bytes of activations written per sample
    intensity_flop_per_byte: float
    ridge_flop_per_byte: float
    bound: str  # "memory" or "compute"
    bound_ips: float  # the roofline's limit, inferences/s
    fraction: float  # measured throughput / bound_ips
    peak_precision: str  # the profile precision whose peak was used
    power_mode: str
    counted_on: str
    lower_bound_count: bool  # the graph count missed some ops: the bound is optimistic
    estimated: bool  # the peak or the bandwidth is an estimate
    inputs: tuple[SourcedFigure, ...]  # peak compute and memory bandwidth, with their provenance
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MemoryFit:
    """Memory one query needs (the build's weights plus every activation of the query, none freed:
    an upper bound) against the device's memory, in bytes."""

    need_bytes: float
    capacity_bytes: float | None  # None when the profile has no memory figure
    capacity_provenance: str

    @property
    def fits(self) -> bool | None:
        return None if self.capacity_bytes is None else self.need_bytes <= self.capacity_bytes


def memory_fit(record: Record, count: GraphCount, profile: TargetProfile | None) -> MemoryFit:
    """What ``record``'s query needs against ``profile``'s memory capacity."""
    if count.batch != record.batch_size:
        count = count.at_batch(record.batch_size)
    need = count.weight_bytes + count.activation_bytes
    capacity = profile.memory_capacity if profile is not None else None
    if capacity is None:
        return MemoryFit(need_bytes=need, capacity_bytes=None, capacity_provenance="no memory figure in the profile")
    fig = from_profile("memory_capacity", profile, "memory_capacity", capacity)  # type: ignore[arg-type]
    return MemoryFit(need_bytes=need, capacity_bytes=capacity.value * 1e9, capacity_provenance=fig.provenance)


def compute_precision(record: Record) -> str:
    """The profile precision (targets.PRECISIONS) whose peak applies: what the build computes in,
    or what the runtime says it really ran in (OpenVINO runs FP32 models in BF16 on AMX)."""
    precision = record.precision.lower()
    ran = str(record.runtime_settings.get("inference_precision") or "").lower()
    if precision.startswith("int8") or precision.endswith("int8"):
        return "int8"
    if precision.startswith("int4"):
        return "int4"
    if ran in ("bf16", "f16", "fp16"):
        return "bf16" if ran == "bf16" else "fp16"
    for name in ("fp16", "bf16", "fp8", "tf32"):
        if name in precision:
            return name
    return "fp32"


def power_mode_of(record: Record, profile: TargetProfile) -> str:
    """The profile power mode the record ran in, where the runtime reported it; else the default."""
    named = record.runtime_settings.get("power_mode")
    if isinstance(named, str):
        for mode in profile.power_modes:
            if mode.name.lower() == named.lower():
                return mode.name
    return profile.default_mode.name


def peak_and_bandwidth(
    profile: TargetProfile, precision: str, mode: str | None = None
) -> tuple[SourcedFigure, SourcedFigure, tuple[str, ...]]:
    """The dense peak for ``precision`` (FP32's where the profile has none) and the memory bandwidth
    of ``mode``, in the profile's units (:func:`per_second` converts); RooflineUnavailable names what
    the profile lacks."""
    power_mode = profile.mode(mode)
    where = f"power_modes[{power_mode.name}]"
    notes: list[str] = []
    used = precision
    figure = power_mode.peak_compute.get(precision)
    if figure is None and precision != "fp32":
        figure, used = power_mode.peak_compute.get("fp32"), "fp32"
        if figure is not None:
            notes.append(f"{profile.id} has no {precision} peak in mode {power_mode.name}: the FP32 peak is used")
    if figure is None:
        raise RooflineUnavailable(
            f"{profile.id} has no peak compute in mode {power_mode.name} for the build's precision nor for FP32: "
            f"add {where}.peak_compute.fp32 (and one per precision) to a profile of your own (--targets-dir)"
        )
    bandwidth = power_mode.memory_bandwidth
    if bandwidth is None:
        raise RooflineUnavailable(
            f"{profile.id} has no memory bandwidth in mode {power_mode.name}: add {where}.memory_bandwidth "
            "to a profile of your own (--targets-dir)"
        )
    peak = from_profile(f"peak_{used}", profile, f"{where}.peak_compute.{used}", figure, dense=True)
    bw = from_profile("memory_bandwidth", profile, f"{where}.memory_bandwidth", bandwidth)
    return peak, bw, tuple(notes)


def per_second(figure: SourcedFigure) -> float:
    """A peak (TFLOPS, TOPS) in operations per second, a bandwidth (GB/s) in bytes per second."""
    return figure.value * _PER_SECOND.get(figure.unit, _BYTES_PER_SECOND.get(figure.unit, 1.0))


def bound_ips(count: GraphCount, peak_ops: float, bandwidth: float) -> tuple[float, str]:
    """(inferences/s the roofline allows, "memory" or "compute") for one query of ``count.batch``."""
    compute_s = count.flops / peak_ops
    memory_s = (count.weight_bytes + count.activation_bytes) / bandwidth
    slowest = max(compute_s, memory_s)
    return (count.batch / slowest if slowest > 0 else float("inf")), ("memory" if memory_s > compute_s else "compute")


def roofline_of(record: Record, count: GraphCount, profile: TargetProfile) -> Roofline:
    """Where ``record`` sits on ``profile``'s roofline; RooflineUnavailable names what is missing."""
    if count.batch != record.batch_size:
        count = count.at_batch(record.batch_size)
    mode = power_mode_of(record, profile)
    peak, bandwidth, notes = peak_and_bandwidth(profile, compute_precision(record), mode)
    moved = count.weight_bytes + count.activation_bytes
    if count.flops <= 0 or moved <= 0:
        raise RooflineUnavailable("the graph count found no work or no bytes to move")
    limit, bound = bound_ips(count, per_second(peak), per_second(bandwidth))
    tput = record.throughput_ips
    fraction = tput / limit if is_number(tput) and limit > 0 else float("nan")
    if fraction > 1:
        notes += ("above the bound: activations stayed in cache, so the byte count overstates the traffic",)
    if count.lower_bound:
        notes += ("some ops were not counted: the work is a lower bound and the bound optimistic",)
    return Roofline(
        flops_per_inference=count.flops / count.batch,
        bytes_per_inference=moved / count.batch,
        weight_bytes=count.weight_bytes,
        activation_bytes_per_inference=count.activation_bytes / count.batch,
        intensity_flop_per_byte=count.flops / moved,
        ridge_flop_per_byte=per_second(peak) / per_second(bandwidth),
        bound=bound,
        bound_ips=limit,
        fraction=fraction,
        peak_precision=peak.name.removeprefix("peak_"),
        power_mode=mode,
        counted_on=count.counted_on,
        lower_bound_count=count.lower_bound,
        estimated=peak.estimated or bandwidth.estimated,
        inputs=(peak, bandwidth),
        notes=notes,
    )


def graph_counts_for(counts: Mapping[str, Any], variant_id: str) -> dict[int, GraphCount]:
    """The stored counts of one variant (as :func:`count_builds` writes them), by batch size."""
    entry = counts.get(variant_id) or {}
    counted_on = str(entry.get("counted_on") or COUNTED_ON_BUILD)
    return {int(b): GraphCount.from_json(c, counted_on) for b, c in (entry.get("by_batch") or {}).items()}


def pick_count(by_batch: Mapping[int, GraphCount], batch: int) -> GraphCount | None:
    """The count at ``batch``, else one counted at another batch size (smallest first)."""
    if batch in by_batch:
        return by_batch[batch]
    return by_batch[min(by_batch)] if by_batch else None


def count_builds(
    builds: Sequence[tuple[str, str, Path | None]], source_model: Path | None, batches: Sequence[int]
) -> dict:
    """Graph counts of each build, JSON-ready: ``{variant_id: {"counted_on", "by_batch": {batch: count}}}``.

    ``builds`` are (variant id, artifact kind, path of its ONNX member or None). A build without an
    ONNX graph (OpenVINO IR) is counted on ``source_model``, and says so; a batch size a model's fixed
    shapes cannot take, or a graph the counter cannot read, is left out."""
    from pipeline.graph_cost import graph_cost

    out: dict[str, Any] = {}
    for variant_id, kind, path in builds:
        counted_on = COUNTED_ON_BUILD if path is not None else COUNTED_ON_SOURCE.format(kind=kind)
        by_batch = {}
        graph = path if path is not None else source_model
        if graph is None:
            out[variant_id] = {"counted_on": counted_on, "by_batch": {}}
            continue
        try:
            model = topologically_sorted(graph)
        except Exception:
            out[variant_id] = {"counted_on": counted_on, "by_batch": {}}
            continue
        for batch in sorted(set(batches)):
            try:
                cost = graph_cost(model, batch)
            except Exception:  # a graph that cannot be counted costs the run its roofline, nothing more
                continue
            data = cost.to_json()
            by_batch[str(batch)] = {
                k: data[k] for k in ("batch", "flops", "weight_bytes", "activation_bytes", "shapes_known")
            }
        out[variant_id] = {"counted_on": counted_on, "by_batch": by_batch}
    return out


def topologically_sorted(path: Path) -> Any:
    """The ONNX model at ``path`` with its nodes in dependency order. The graph counter reads nodes
    in file order, and a pass may append nodes that earlier ones consume (the FP16 pass adds its
    input Casts at the end): unsorted, the nodes after such a Cast would look constant and count nothing."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(name in known for name in n.input)]
        if not ready:  # a cycle or an input from a subgraph's scope: keep the file's order for the rest
            ordered += pending
            break
        for node in ready:
            known.update(node.output)
        ordered += ready
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    del graph.node[:]
    graph.node.extend(ordered)
    return model
