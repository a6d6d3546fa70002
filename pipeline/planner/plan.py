"""The planner: for a workload, each (target, build) sized and costed, the cheapest configuration that
meets the SLA, how far the fastest would over-provision, and what auto-scaling would save.

Measured targets use their measurements; targets named in ``targets`` that nothing was measured on
are projected (:mod:`pipeline.planner.candidates`), flagged as such, never shown as measurements. The
cheapest is chosen among all feasible options within the budget; when it is a projection, the
cheapest measured option is named too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.constraints import Constraints
from pipeline.cost import HOURS_PER_MONTH, CostOptions
from pipeline.planner.answer import answer_text, over_provision_text
from pipeline.planner.batcher import DEFAULT_REQUESTS, SEED, poisson_arrivals, requests_for, simulate
from pipeline.planner.candidates import Candidate, measured_candidates, projected_candidates
from pipeline.planner.sizing import PlanOption, devices_needed, economics_for, size
from pipeline.planner.workload import Workload
from pipeline.record import Record
from targets import TargetProfile


@dataclass(frozen=True)
class AutoScaling:
    """Devices the busiest stretch needs against the average, and the monthly cost of each way."""

    peak_devices: int
    average_devices: float
    always_on_usd_per_month: float | None
    autoscaled_usd_per_month: float | None
    basis: str  # how the two counts were found


@dataclass(frozen=True)
class PlanResult:
    """The planner's answer for one workload (see the module docstring)."""

    workload: Workload
    options: tuple[PlanOption, ...]  # feasible first, cheapest first
    cheapest: PlanOption | None
    cheapest_measured: PlanOption | None
    fastest: PlanOption | None
    autoscaling: AutoScaling | None
    answer: str
    over_provision: str
    left_out: tuple[str, ...]  # builds out of the plan, projections refused, with why
    delays_ms: tuple[float, ...]
    method: str  # how the SLA was checked, in one sentence


def default_delays(p99_ms: float) -> tuple[float, ...]:
    """Maximum queueing delays tried unless the user names some: none, and a tenth of the SLA."""
    return (0.0, round(p99_ms / 10.0, 3))


def select_targets(
    candidates: Sequence[Candidate],
    profiles: Mapping[str, TargetProfile],
    names: Sequence[str],
    measured: Iterable[str] = (),
) -> tuple[list[Candidate], list[TargetProfile]]:
    """The measured candidates ``names`` keep (by target or device id; all when empty) and the named
    profiles nothing was measured on; ValueError for a name that is neither. ``measured`` holds the
    ids of every device and target with records, usable or not: naming one whose records were all
    left out (invalid windows, over the budget) leaves it with no option, said in ``left_out``."""
    if not names:
        return list(candidates), []
    kept = [c for c in candidates if c.target in names or c.device_id in names]
    measured = set(measured) | {c.target for c in candidates} | {c.device_id for c in candidates}
    projected = []
    for name in names:
        if name in measured:
            continue
        if name not in profiles:
            known = ", ".join(sorted(profiles))
            raise ValueError(
                f"planner target {name!r} is neither a measured device or target nor a profile; known: {known}"
            )
        projected.append(profiles[name])
    return kept, projected


def plan_deployment(
    records: Sequence[Record],
    profiles: Mapping[str, TargetProfile],
    workload: Workload,
    cost_options: CostOptions,
    constraints: Constraints,
    targets: Sequence[str] = (),
    delays_ms: Sequence[float] | None = None,
) -> PlanResult:
    """Size every candidate for ``workload`` and answer: the cheapest that meets the SLA, and more."""
    delays = tuple(delays_ms) if delays_ms else default_delays(workload.p99_ms)
    everything, left_out = measured_candidates(records, profiles, constraints)
    ids = {r.device_id for r in records} | {r.target for r in records if r.target}
    measured, to_project = select_targets(everything, profiles, targets, ids)
    projected, refused = projected_candidates(everything, records, to_project)
    options = [size(c, workload, cost_options, delays) for c in measured + projected]
    options.sort(key=_order)
    usable = [o for o in options if o.feasible and o.within_budget is not False]
    costed = [o for o in usable if o.usd_per_month is not None]
    cheapest = min(costed, key=_order) if costed else None
    cheapest_measured = min((o for o in costed if o.kind == "measured"), key=_order, default=None)
    fastest = max(
        (o for o in options if o.feasible), key=lambda o: (o.capacity_ips or 0.0, -(o.p99_ms or 0.0)), default=None
    )
    chosen = cheapest or (min(usable, key=lambda o: (o.devices or 0, o.p99_ms or 0.0)) if usable else None)
    autoscaling = None
    if chosen is not None:
        candidate = next(c for c in measured + projected if _same(c, chosen))
        autoscaling = autoscale(candidate, chosen, workload, cost_options)
    requests = "the trace's arrivals" if workload.trace is not None else f"{DEFAULT_REQUESTS:,}+ Poisson arrivals"
    method = (
        f"End-to-end p99 simulated over {requests} (seed {SEED}) through a dynamic batcher (maximum batch: each "
        f"measured batch size; maximum queueing delay: {', '.join(f'{d:g}' for d in delays)} ms), each query timed "
        "from the latencies measured at the batch size it is padded to."
    )
    return PlanResult(
        workload=workload,
        options=tuple(options),
        cheapest=cheapest,
        cheapest_measured=cheapest_measured,
        fastest=fastest,
        autoscaling=autoscaling,
        answer=answer_text(workload, cheapest, cheapest_measured, usable, options),
        over_provision=over_provision_text(fastest, cheapest),
        left_out=tuple(left_out + refused),
        delays_ms=delays,
        method=method,
    )


def _order(o: PlanOption) -> tuple[int, float, float, str]:
    cost = o.usd_per_month if o.usd_per_month is not None else math.inf
    return (0 if o.feasible else 1, cost, o.p99_ms if o.p99_ms is not None else math.inf, o.label)


def _same(c: Candidate, o: PlanOption) -> bool:
    return (c.variant_id, c.target, c.device_id, c.kind) == (o.variant_id, o.target, o.device_id, o.kind)


def autoscale(candidate: Candidate, option: PlanOption, workload: Workload, options: CostOptions) -> AutoScaling | None:
    """Peak devices against average for the chosen option's batcher setting; None when the workload
    gives no peak (a Poisson rate without ``--peak-rate``)."""
    assert option.devices is not None and option.max_batch is not None and option.max_delay_ms is not None
    econ, _ = economics_for(candidate, option.max_batch, options)
    batch, delay = option.max_batch, option.max_delay_ms / 1000.0
    if workload.trace is not None:
        rates = workload.window_rates()
        per_device = max(rates) / option.devices  # what one device of the fleet carries in the busiest window
        counts = [max(1, math.ceil(rate / per_device)) for rate in rates]
        peak, average = option.devices, sum(counts) / len(counts)
        basis = (
            f"peak: the devices that serve the whole trace within the SLA; average: each {workload.window_s:g} s "
            f"window's rate over the {per_device:.3g} requests/s one device carries in the busiest window, averaged"
        )
        peak_u = option.utilisation or 0.0
    elif workload.peak_rate_per_s is not None:

        def run(n: int) -> object:
            arrivals = poisson_arrivals(workload.peak_rate_per_s or 0.0, requests_for(n, batch), SEED)
            return simulate(arrivals, n, batch, delay, candidate.service)

        at_peak = devices_needed(run, option.devices, workload.p99_ms)  # type: ignore[arg-type]
        if at_peak is None:
            return None
        peak, average, peak_u = at_peak.devices, float(option.devices), at_peak.utilisation
        basis = "devices that meet the SLA at the peak rate against those at the average rate (both simulated)"
    else:
        return None
    always = scaled = None
    if econ is not None:
        always = peak * econ.usd_per_h(peak_u) * HOURS_PER_MONTH
        if econ.pricing == "rental":
            scaled = average * econ.usd_per_h(option.utilisation or 0.0) * HOURS_PER_MONTH
        else:  # owned devices still cost their amortisation; switched off, they save their idle power
            idle_usd_h = econ.idle_w.value / 1000.0 * (econ.electricity.value if econ.electricity else 0.0)
            idle_usd_h *= econ.pue.value if econ.pue else 1.0
            scaled = always - (peak - average) * idle_usd_h * HOURS_PER_MONTH
    return AutoScaling(
        peak_devices=peak,
        average_devices=average,
        always_on_usd_per_month=always,
        autoscaled_usd_per_month=scaled,
        basis=basis,
    )
