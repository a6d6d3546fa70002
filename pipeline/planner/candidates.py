"""What the planner can deploy: each feasible build on each measured target, and projections of
those builds onto targets that were not measured.

A *measured* candidate serves with the latencies its records measured at each batch size, and draws
the power the agent read. A *projected* candidate is one of those builds on another profile: at each
batch size its throughput is the same fraction of the target's roofline bound as the build reached
on the measured device (capped at 1), its latency spread is the measured one scaled to that
throughput, and it draws the target's power limit busy and its idle figure idle. The assumption is
stated on every projected row; a projection is never shown as a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.protocol import LatencyStats
from pipeline.constraints import Constraints, constraint_violations
from pipeline.cost import profile_active_w, profile_idle_w, record_power
from pipeline.numbers import format_number
from pipeline.planner.service import ServiceTimes
from pipeline.rank import target_of
from pipeline.record import Record
from pipeline.roofline import (
    GraphCount,
    RooflineUnavailable,
    bound_ips,
    compute_precision,
    peak_and_bandwidth,
    per_second,
)
from pipeline.sourced import SourcedFigure
from targets import TargetProfile


@dataclass(frozen=True)
class Candidate:
    """One build on one target kind, as the planner sizes it."""

    target: str  # profile id, else the device id
    device_id: str | None  # the measured device; None for a projection
    variant_id: str
    precision: str
    kind: str  # "measured" or "projected"
    service: ServiceTimes
    power: Mapping[int, tuple[SourcedFigure, SourcedFigure] | None]  # batch -> (active, idle) per device
    profile: TargetProfile | None
    assumption: str | None = None  # how a projection was made

    @property
    def label(self) -> str:
        where = self.device_id if self.device_id else f"{self.target} (projected)"
        return f"{self.variant_id} on {where}"


def measured_candidates(
    records: Sequence[Record], profiles: Mapping[str, TargetProfile], constraints: Constraints
) -> tuple[list[Candidate], list[str]]:
    """One candidate per (variant, device) from the records that are valid and within the accuracy
    and memory budget (the planner checks the latency itself, queueing included); why others are out."""
    budget = Constraints(
        max_accuracy_loss=constraints.max_accuracy_loss,
        accuracy_budget_origin=constraints.accuracy_budget_origin,
        max_memory_mb=constraints.max_memory_mb,
    )
    groups: dict[tuple[str, str], list[Record]] = {}
    left_out: list[str] = []
    for r in records:
        why = ([] if r.valid else ["invalid measurement"]) + constraint_violations(r, budget)
        if why:
            left_out.append(f"{r.id}: {'; '.join(why)}")
            continue
        groups.setdefault((r.variant_id, r.device_id), []).append(r)
    out = []
    for (variant, device), group in groups.items():
        by_batch = {r.batch_size: r for r in group}
        profile = profiles.get(group[0].target)
        out.append(
            Candidate(
                target=target_of(group[0]),
                device_id=device,
                variant_id=variant,
                precision=group[0].precision,
                kind="measured",
                service=ServiceTimes({b: r.latency_ms for b, r in by_batch.items()}),
                power={b: record_power(r, profile) for b, r in by_batch.items()},
                profile=profile,
            )
        )
    return out, left_out


def project(source: Sequence[Record], target: TargetProfile) -> Candidate:
    """``source`` (one variant's records on one device, with rooflines) projected onto ``target``;
    RooflineUnavailable says why it cannot be."""
    usable = [r for r in source if r.roofline is not None and r.roofline.fraction > 0]
    if not usable:
        raise RooflineUnavailable(
            f"{source[0].variant_id} on {source[0].device_id} has no roofline figure to project from"
        )
    first = usable[0]
    precision = compute_precision(first)
    if precision not in target.precisions and not any(precision in m.peak_compute for m in target.power_modes):
        raise RooflineUnavailable(f"{target.id} runs no {precision} (its profile lists {', '.join(target.precisions)})")
    peak, bandwidth, notes = peak_and_bandwidth(target, precision)
    stats: dict[int, LatencyStats] = {}
    fractions = []
    for r in usable:
        roof = r.roofline
        assert roof is not None
        count = GraphCount(
            batch=r.batch_size,
            flops=roof.flops_per_inference * r.batch_size,
            weight_bytes=roof.weight_bytes,
            activation_bytes=roof.activation_bytes_per_inference * r.batch_size,
            counted_on=roof.counted_on,
        )
        limit, bound = bound_ips(count, per_second(peak), per_second(bandwidth))
        fraction = min(1.0, roof.fraction)
        fractions.append(f"{format_number(fraction * 100, sig=2)}% at batch {r.batch_size} ({bound}-bound there)")
        factor = r.throughput_ips / (fraction * limit)
        s = r.latency_ms
        stats[r.batch_size] = LatencyStats(
            p50=s.p50 * factor,
            p90=s.p90 * factor,
            p99=s.p99 * factor,
            mean=s.mean * factor,
            min=s.min * factor,
            max=s.max * factor,
            stdev=s.stdev * factor,
        )
    active = profile_active_w(target)
    idle = profile_idle_w(target)
    power = (active, idle) if active is not None else None
    limit_text = f"the {format_number(active.value)} W power limit" if active is not None else "no power figure"
    assumption = (
        f"projected from {first.variant_id} measured on {first.device_id}: throughput at the same fraction of "
        f"{target.id}'s roofline bound ({', '.join(fractions)}; {peak.describe()}, {bandwidth.describe()}), "
        f"latency spread as measured, busy power at {limit_text}" + ("; " + "; ".join(notes) if notes else "")
    )
    return Candidate(
        target=target.id,
        device_id=None,
        variant_id=first.variant_id,
        precision=first.precision,
        kind="projected",
        service=ServiceTimes(stats),
        power=dict.fromkeys(stats, power),
        profile=target,
        assumption=assumption,
    )


def projected_candidates(
    measured: Sequence[Candidate], records: Sequence[Record], targets: Sequence[TargetProfile]
) -> tuple[list[Candidate], list[str]]:
    """Each measured build projected onto each of ``targets`` (profiles nothing was measured on),
    from the first device it was measured on with rooflines; why a projection could not be made."""
    out, refused = [], []
    for target in targets:
        done: set[str] = set()
        for candidate in measured:
            if candidate.variant_id in done:
                continue
            source = [r for r in records if r.variant_id == candidate.variant_id and r.device_id == candidate.device_id]
            try:
                out.append(project(source, target))
            except RooflineUnavailable as exc:
                refused.append(f"{candidate.variant_id} onto {target.id}: {exc}")
                continue
            done.add(candidate.variant_id)
    return out, refused
