"""The workload planner: how many devices of which target, running which build at which batcher
settings, serve a stated load within its end-to-end p99, and at what cost.

    from pipeline.planner import Workload, parse_rate, plan_deployment
    workload = Workload(rate_per_s=parse_rate("600/min"), p99_ms=100)
    plan = plan_deployment(summary.records, profiles, workload, CostOptions(), summary.constraints)
    plan.answer          # the cheapest configuration that meets the SLA, in one or two sentences

Modules: :mod:`~pipeline.planner.workload` (rates, traces), :mod:`~pipeline.planner.service` (query
times from measured latencies), :mod:`~pipeline.planner.batcher` (the dynamic batcher simulation),
:mod:`~pipeline.planner.candidates` (measured builds and projections), :mod:`~pipeline.planner.sizing`
(devices and cost for one candidate), :mod:`~pipeline.planner.plan` (the answer),
:mod:`~pipeline.planner.answer` (its words and table).
"""

from pipeline.planner.plan import AutoScaling, PlanResult, default_delays, plan_deployment
from pipeline.planner.sizing import PlanOption
from pipeline.planner.workload import Workload, describe_rate, load_trace, parse_rate

__all__ = [
    "AutoScaling",
    "PlanOption",
    "PlanResult",
    "Workload",
    "default_delays",
    "describe_rate",
    "load_trace",
    "parse_rate",
    "plan_deployment",
]
