"""How many devices one candidate needs for a workload, at which batcher settings, and what that costs.

For each maximum batch (a measured batch size) and maximum queueing delay, the fewest devices whose
simulated end-to-end p99 meets the workload's: start from the count the load needs at full queries
(``rate / capacity``), grow it until the p99 holds (doubling, then bisecting). Of the settings that
meet the SLA, the cheapest per month wins (the fewest devices where no price is known), ties to the
lower p99. Utilisation and average power come from the simulation; cost from
:class:`pipeline.cost.DeviceEconomics` at that utilisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.cost import HOURS_PER_MONTH, CostOptions, CostUnavailable, DeviceEconomics, device_economics
from pipeline.numbers import format_number
from pipeline.planner.batcher import SEED, BatcherResult, poisson_arrivals, requests_for, simulate
from pipeline.planner.candidates import Candidate
from pipeline.planner.workload import Workload
from pipeline.sourced import SourcedFigure

#: Past this many devices a setting is given up on (the p99 does not come down with more of them).
MAX_DEVICES = 4096


@dataclass(frozen=True, kw_only=True)
class PlanOption:
    """One candidate sized for the workload: the cheapest batcher setting that meets the SLA, or why none does."""

    target: str
    device_id: str | None
    variant_id: str
    precision: str
    kind: str  # "measured" or "projected"
    assumption: str | None
    feasible: bool
    reason: str  # why not feasible; "" when it is
    max_batch: int | None = None
    max_delay_ms: float | None = None
    devices: int | None = None
    p99_ms: float | None = None  # end to end, queueing included (simulated)
    mean_batch: float | None = None
    utilisation: float | None = None  # fraction of device time busy, across the fleet
    capacity_ips: float | None = None  # one device, full queries of max_batch back to back
    average_w: float | None = None  # the whole fleet, idle time included
    usd_per_month: float | None = None  # the whole fleet
    usd_per_million: float | None = None
    within_budget: bool | None = None
    pricing: str | None = None
    cost_estimated: bool = False
    cost_inputs: tuple[SourcedFigure, ...] = ()
    cost_note: str = ""  # why there is no cost figure

    @property
    def label(self) -> str:
        where = self.device_id if self.device_id else f"{self.target} (projected)"
        return f"{self.variant_id} on {where}"


def _arrivals(workload: Workload, devices: int, max_batch: int, rate: float | None = None) -> np.ndarray:
    if workload.trace is not None and rate is None:
        return workload.trace
    return poisson_arrivals(rate or workload.rate_per_s, requests_for(devices, max_batch), SEED)


def devices_needed(
    run: Callable[[int], BatcherResult], start: int, sla_ms: float, limit: int = MAX_DEVICES
) -> BatcherResult | None:
    """The result at the fewest devices (from ``start``) whose p99 meets ``sla_ms``; None past ``limit``."""
    first = run(start)
    if first.p99_ms <= sla_ms:
        return first
    lo, hi, found, previous, stalled = start, start, None, first.p99_ms, 0
    while hi < limit:
        hi = min(limit, hi * 2)
        result = run(hi)
        if result.p99_ms <= sla_ms:
            found = result
            break
        # More devices shorten the queue, not the query: once doubling stops helping, stop.
        stalled = stalled + 1 if result.p99_ms >= previous * 0.99 else 0
        if stalled >= 2:
            return None
        lo, previous = hi, result.p99_ms
    if found is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        result = run(mid)
        if result.p99_ms <= sla_ms:
            hi, found = mid, result
        else:
            lo = mid
    return found


def economics_for(candidate: Candidate, batch: int, options: CostOptions) -> tuple[DeviceEconomics | None, str]:
    power = candidate.power.get(batch)
    if power is None:
        return None, "no power figure (measured or the profile's power limit) to cost it"
    try:
        return device_economics(candidate.profile, options, *power), ""
    except CostUnavailable as exc:
        return None, str(exc)


def size(
    candidate: Candidate,
    workload: Workload,
    options: CostOptions,
    delays_ms: Sequence[float],
    rate: float | None = None,
) -> PlanOption:
    """``candidate`` sized for ``workload`` (or for a Poisson load at ``rate``, for a peak)."""
    base = dict(
        target=candidate.target,
        device_id=candidate.device_id,
        variant_id=candidate.variant_id,
        precision=candidate.precision,
        kind=candidate.kind,
        assumption=candidate.assumption,
    )
    service = candidate.service
    sla = workload.p99_ms
    fastest = service.p99_s(service.batch_sizes[0]) * 1000.0
    if fastest > sla:
        reason = (
            f"p99 of one query at batch {service.batch_sizes[0]} is {format_number(fastest)} ms, over the "
            f"{format_number(sla)} ms SLA before any queueing: no number of devices meets it"
        )
        return PlanOption(**base, feasible=False, reason=reason)  # type: ignore[arg-type]
    load = rate or workload.rate_per_s
    best: tuple[tuple[float, float], PlanOption] | None = None
    for batch in service.batch_sizes:
        econ, cost_note = economics_for(candidate, batch, options)
        capacity = service.capacity_ips(batch)
        start = max(1, math.ceil(load / capacity))
        for delay in sorted(set(delays_ms)):

            def run(n: int, b: int = batch, d: float = delay) -> BatcherResult:
                return simulate(_arrivals(workload, n, b, rate), n, b, d / 1000.0, service)

            result = devices_needed(run, start, sla)
            if result is None:
                continue
            option = _option(base, result, capacity, econ, cost_note, workload, load)
            key = (option.usd_per_month if option.usd_per_month is not None else float(result.devices), result.p99_ms)
            if best is None or key < best[0]:
                best = (key, option)
    if best is None:
        reason = f"no batcher setting meets the {format_number(sla)} ms p99 with up to {MAX_DEVICES} devices"
        return PlanOption(**base, feasible=False, reason=reason)  # type: ignore[arg-type]
    return best[1]


def _option(
    base: dict,
    result: BatcherResult,
    capacity: float,
    econ: DeviceEconomics | None,
    cost_note: str,
    workload: Workload,
    load: float,
) -> PlanOption:
    u = result.utilisation
    usd_month = per_million = watts = None
    if econ is not None:
        usd_month = result.devices * econ.usd_per_h(u) * HOURS_PER_MONTH
        per_million = usd_month / (load * HOURS_PER_MONTH * 3600.0) * 1e6
        watts = result.devices * econ.average_w(u)
    budget = workload.budget_usd_per_month
    return PlanOption(
        **base,
        feasible=True,
        reason="",
        max_batch=result.max_batch,
        max_delay_ms=result.max_delay_ms,
        devices=result.devices,
        p99_ms=result.p99_ms,
        mean_batch=result.mean_batch,
        utilisation=u,
        capacity_ips=capacity,
        average_w=watts,
        usd_per_month=usd_month,
        usd_per_million=per_million,
        within_budget=None if budget is None or usd_month is None else usd_month <= budget,
        pricing=econ.pricing if econ is not None else None,
        cost_estimated=econ.estimated if econ is not None else False,
        cost_inputs=econ.inputs if econ is not None else (),
        cost_note=cost_note,
    )
