"""Everything one run's outputs say, built once: records, ranking, recommendation, what went wrong.

:func:`summarize` is the entry point of the *rank* stage: agent results in, a frozen
:class:`RunSummary` out. ``results.json`` (:mod:`pipeline.export`), the terminal table and the HTML
page (:mod:`pipeline.report`) are all written from it, so they agree figure for figure.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.protocol import AgentStatus, BenchmarkResult
from pipeline.constraints import Constraints
from pipeline.cost import CostOptions
from pipeline.derive import derive_figures
from pipeline.objectives import DEFAULT_OBJECTIVES, Objective
from pipeline.rank import Ranking, rank_records, target_of
from pipeline.recommend import Recommendation, recommend
from pipeline.record import Failure, Record, build_records

if TYPE_CHECKING:
    from pipeline.planner import PlanResult
    from targets import TargetProfile

__all__ = ["Failure", "RunSummary", "Unfinished", "summarize", "summarize_records"]


@dataclass(frozen=True)
class Unfinished:
    """A job issued for the run that never produced a result; the reports name each one."""

    job_id: str
    variant_id: str
    device_id: str
    state: str  # where the job was last seen, e.g. "queued", "delivered", "running"
    reason: str  # why it is unfinished, one line, e.g. "no result within the 600 s deadline"


@dataclass(frozen=True)
class RunSummary:
    """One run, ranked: what both reports and ``results.json`` show.

    ``objectives`` are those requested; ``ranking.objectives`` those used (see its fallback notes).
    ``model`` and ``eval_info`` are the run's metadata as stored ({name, sha256, inputs, outputs,
    opset, flops_per_inference} and {source, samples, has_labels}). ``constraints`` are those applied
    (the default accuracy budget included); ``rule`` is the recommendation rule asked for
    (:data:`pipeline.recommend.RULES`; ``recommendation.rule`` says which applied); ``per_target``
    holds each target's own recommendation when the run measured more than one; ``plan`` is the
    planner's answer when a workload was given.
    """

    run_id: str
    created_at: str  # UTC, ISO 8601 (2026-11-26T13:15:00Z)
    model: Mapping[str, Any]
    eval_info: Mapping[str, Any]
    constraints: Constraints
    objectives: tuple[Objective, ...]
    records: tuple[Record, ...]
    ranking: Ranking
    recommendation: Recommendation | None
    failures: tuple[Failure, ...] = ()
    unfinished: tuple[Unfinished, ...] = ()
    devices: Mapping[str, AgentStatus] = field(default_factory=dict)
    rule: str = "auto"
    per_target: Mapping[str, Recommendation | None] = field(default_factory=dict)
    cost_options: CostOptions = field(default_factory=CostOptions)
    plan: PlanResult | None = None

    def record(self, record_id: str) -> Record | None:
        return next((r for r in self.records if r.id == record_id), None)

    @property
    def recommended(self) -> Record | None:
        """The recommended record, or None when nothing qualifies."""
        return self.record(self.recommendation.id) if self.recommendation else None

    def notes(self, record: Record) -> tuple[str, ...]:
        """The record's notes, then why it is not ranked (``"not ranked: …"``) if it is not."""
        note = self.ranking.note(record.id)
        return record.notes + ((note,) if note else ())


def summarize(
    results: Sequence[BenchmarkResult],
    *,
    run_id: str,
    model: Mapping[str, Any],
    eval_info: Mapping[str, Any],
    artifacts: Mapping[str, Mapping[str, Any]],
    devices: Mapping[str, AgentStatus],
    host_top1: float | None,
    build_failures: Sequence[Failure],
    unfinished: Sequence[Unfinished],
    sla_p99_ms: float | None,
    max_accuracy_loss: float | None,
    created_at: str | None = None,
    metric: str = "top1",
    profiles: Mapping[str, TargetProfile] | None = None,
    graph_counts: Mapping[str, Any] | None = None,
    cost_options: CostOptions | None = None,
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
    rule: str = "auto",
    exclude_estimates: bool = False,
    max_memory_mb: float | None = None,
) -> RunSummary:
    """Records from ``results``, with cost, roofline and memory derived where ``profiles`` are given,
    ranked under ``objectives`` within the constraints.

    ``artifacts`` maps variant id to ``{"sha256", "size_bytes", "kind"}``; ``build_failures`` are
    the variants that failed on the host, listed before those that failed on a device;
    ``max_accuracy_loss`` is absolute (0.01 = 1 percentage point; the default budget applies when
    None). ``graph_counts`` are the builds' graph counts (:func:`pipeline.roofline.count_builds`).
    ``created_at`` defaults to now.
    """
    records, device_failures = build_records(results, artifacts, devices, host_top1, metric)
    cost_options = cost_options or CostOptions()
    if profiles is not None:
        records = derive_figures(records, profiles, graph_counts or {}, cost_options)
    return summarize_records(
        records,
        run_id=run_id,
        model=model,
        eval_info=eval_info,
        devices=devices,
        failures=[*build_failures, *device_failures],
        unfinished=unfinished,
        constraints=Constraints(
            sla_p99_ms=sla_p99_ms, max_accuracy_loss=max_accuracy_loss, max_memory_mb=max_memory_mb
        ),
        objectives=objectives,
        created_at=created_at,
        rule=rule,
        exclude_estimates=exclude_estimates,
        cost_options=cost_options,
    )


def summarize_records(
    records: Sequence[Record],
    *,
    run_id: str,
    model: Mapping[str, Any],
    eval_info: Mapping[str, Any],
    devices: Mapping[str, AgentStatus],
    failures: Sequence[Failure] = (),
    unfinished: Sequence[Unfinished] = (),
    constraints: Constraints | None = None,
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
    created_at: str | None = None,
    rule: str = "auto",
    exclude_estimates: bool = False,
    cost_options: CostOptions | None = None,
) -> RunSummary:
    """Rank ``records`` and recommend one: :func:`summarize` for records already built. The default
    accuracy budget applies where ``constraints`` set none."""
    constraints = (constraints or Constraints()).with_default_budget()
    ranking = rank_records(records, objectives, constraints, exclude_estimates=exclude_estimates)
    return RunSummary(
        run_id=run_id,
        created_at=created_at or _now(),
        model=dict(model),
        eval_info=dict(eval_info),
        constraints=constraints,
        objectives=tuple(objectives),
        records=tuple(records),
        ranking=ranking,
        recommendation=recommend(records, ranking, constraints, rule),
        failures=tuple(failures),
        unfinished=tuple(unfinished),
        devices=dict(devices),
        rule=rule,
        per_target=_per_target(records, ranking, constraints, rule),
        cost_options=cost_options or CostOptions(),
    )


def _per_target(
    records: Sequence[Record], ranking: Ranking, constraints: Constraints, rule: str
) -> dict[str, Recommendation | None]:
    """Each target's own recommendation, from its own front; empty when only one target was measured."""
    targets = list(dict.fromkeys(target_of(r) for r in records))
    if len(targets) < 2:
        return {}
    within = ranking.within_targets()
    return {t: recommend([r for r in records if target_of(r) == t], within, constraints, rule) for t in targets}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
