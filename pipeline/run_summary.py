"""A run as the database holds it: what the main job records up front, and the summary rebuilt from it.

``edgeprof report`` and the main job both go through :func:`summary_for_run`, so a report rebuilt
later says exactly what the first one said, including the jobs that never answered. The run's
decision options (objectives, rule, cost inputs, workload) are stored with it; ``edgeprof report``
may override any of them. Each build's graph is counted once, when the run is recorded, for the
roofline.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.errors import ProtocolError
from agent.protocol import AgentStatus, BenchmarkResult, decode
from agent.protocol.progress import parse_progress
from pipeline.build import Built
from pipeline.derive import load_target_profiles
from pipeline.errors import InputError
from pipeline.inputs import PreparedInputs
from pipeline.plan import Skipped
from pipeline.request import DecisionOptions, RunRequest
from pipeline.results_db import ResultsDB
from pipeline.roofline import count_builds
from pipeline.store import ArtifactStore
from pipeline.summary import Failure, RunSummary, Unfinished, summarize

#: Artifact kinds whose ``model`` member is an ONNX graph the roofline can count.
ONNX_MODEL_KINDS = ("onnx", "tensorrt-recipe")


def run_meta(
    request: RunRequest,
    inputs: PreparedInputs,
    built: Sequence[Built],
    host_top1: float | None,
    build_failures: Sequence[Failure],
    skipped: Sequence[Skipped],
    metric: str,
) -> dict[str, Any]:
    """What the database keeps about a run besides its jobs and results (JSON-serialisable)."""
    evals = inputs.eval
    return {
        "model": inputs.model.to_json(),
        "eval": {
            "source": str(request.eval) if evals is not None else None,
            "samples": evals.num_samples if evals is not None else 0,
            "has_labels": evals is not None and evals.labels is not None,
        },
        "artifacts": {
            b.spec.id: {
                "sha256": b.build.sha256,
                "size_bytes": b.build.size_bytes,
                "kind": b.build.kind,
                "checked": b.checked,
                "host_quality": b.host_quality.to_json() if b.host_quality else None,
                "sparsity": b.spec.sparsity,
                "passes": b.spec.pass_names,
            }
            for b in built
        },
        "host_top1": host_top1,
        "metric": metric,
        "sla_p99_ms": request.sla_p99_ms,
        "max_accuracy_loss": request.max_accuracy_loss,
        "failed": [asdict(f) for f in build_failures]
        + [
            {"variant_id": s.variant, "device_id": s.device_id or "host", "error": "skipped: " + s.reason}
            for s in skipped
        ],
        "options": _options(request),
        "decision": request.decision.to_json(),
        "graph_counts": count_builds(
            [(b.spec.id, b.build.kind, _onnx_member(b.build.kind, b.build.files)) for b in built],
            inputs.model.path,
            request.batch_sizes,
        ),
        "batch_sizes": list(request.batch_sizes),
    }


def _onnx_member(kind: str, files: Mapping[str, Any]) -> Path | None:
    return Path(files["model"]) if kind in ONNX_MODEL_KINDS and "model" in files else None


def _graph_counts(db: ResultsDB, meta: Mapping[str, Any], results: Sequence[BenchmarkResult]) -> Mapping[str, Any]:
    """The counts stored with the run; for a run recorded before counting, counted now from the
    artifact store next to the database (builds no longer there are left out)."""
    if "graph_counts" in meta:
        return meta["graph_counts"]
    store = ArtifactStore(Path(db.path).parent / "artifacts")
    builds = []
    for variant, art in (meta.get("artifacts") or {}).items():
        build = store.get_build(str(art.get("sha256", "")))
        if build is not None and build.kind in ONNX_MODEL_KINDS:
            builds.append((variant, build.kind, Path(build.files["model"])))
    batches = sorted({m.batch_size for r in results for m in r.measurements}) or [1]
    return count_builds(builds, None, batches)


def _skipped(s: Skipped) -> dict[str, str]:
    return {"variant_id": s.variant, "device_id": s.device_id or "host", "error": "skipped: " + s.reason}


def _options(request: RunRequest) -> dict[str, str]:
    """The request as strings, without credentials (a broker URL may carry a password)."""
    options = {f.name: str(getattr(request, f.name)) for f in fields(request)}
    if request.broker:
        parts = urlsplit(request.broker)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        options["broker"] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return options


def _readable_results(payloads: Sequence[str]) -> tuple[list[BenchmarkResult], list[Failure]]:
    """The stored results that still decode, and a Failure for each that does not (stored by an older
    host before a check existed): one bad row must not make the run's report fail for good."""
    results, unreadable = [], []
    for payload in payloads:
        try:
            results.append(decode(BenchmarkResult, payload))
        except ProtocolError as exc:
            try:
                raw = json.loads(payload)
                variant, device = str(raw.get("variant_id", "?")), str(raw.get("device_id", "?"))
            except (ValueError, AttributeError):
                variant, device = "?", "?"
            unreadable.append(Failure(variant, device, f"stored result not used: {exc}"))
    return results, unreadable


def _unfinished_reason(detail: str, reason: str) -> str:
    """The device's own word on a job without a result; a live-progress line is where it was, not why
    it has no result, so the reason comes first and the phase after it."""
    if parse_progress(detail) is not None:
        return f"{reason} (last seen: {detail})"
    return detail or reason


def summary_for_run(
    db: ResultsDB,
    run_id: str,
    live_devices: Mapping[str, AgentStatus] | None = None,
    interrupted: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Rebuild the summary of ``run_id`` from the database (KeyError when there is no such run),
    with the run's decision options, ``overrides`` replacing any of them (field names of
    :class:`~pipeline.request.DecisionOptions`). InputError for a decision option that cannot be used."""
    meta = db.run_meta(run_id)
    decision = DecisionOptions.from_json(meta.get("decision")).merged(overrides or {})
    results, unreadable = _readable_results(db.results_for_run(run_id))
    devices = db.devices()
    devices.update(live_devices or {})
    seen = {r.device_id for r in results}
    reason = (
        "the run was interrupted before this job reported; its result stays in the device's outbox"
        if interrupted
        else "no result arrived; the device keeps it in its outbox until a host acknowledges it"
    )
    unfinished = [
        Unfinished(job.job_id, job.variant_id, job.device_id, job.state, _unfinished_reason(job.detail, reason))
        for job in db.jobs(run_id)
        if not job.has_result
    ]
    try:
        cost_options = decision.cost_options()
        objectives = decision.objective_list()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    summary = summarize(
        results,
        run_id=run_id,
        model=meta["model"],
        eval_info=meta["eval"],
        artifacts=meta["artifacts"],
        devices={k: v for k, v in devices.items() if k in seen},
        host_top1=meta.get("host_top1"),
        build_failures=[Failure(**f) for f in meta.get("failed", [])] + unreadable,
        unfinished=unfinished,
        sla_p99_ms=meta.get("sla_p99_ms"),
        max_accuracy_loss=meta.get("max_accuracy_loss"),
        metric=meta.get("metric", "top1"),
        profiles=load_target_profiles(Path(d) for d in decision.targets_dirs),
        graph_counts=_graph_counts(db, meta, results),
        cost_options=cost_options,
        objectives=objectives,
        rule=decision.rule,
        exclude_estimates=decision.exclude_estimates,
        max_memory_mb=decision.max_memory_mb,
    )
    return with_plan(summary, decision)


def with_plan(summary: RunSummary, decision: DecisionOptions) -> RunSummary:
    """``summary`` with the planner's answer for the decision's workload (unchanged without one)."""
    from pipeline.planner import plan_deployment

    try:
        workload = decision.workload(summary.constraints.sla_p99_ms)
        if workload is None:
            return summary
        plan = plan_deployment(
            summary.records,
            load_target_profiles(Path(d) for d in decision.targets_dirs),
            workload,
            summary.cost_options,
            summary.constraints,
            targets=decision.plan_targets,
            delays_ms=decision.max_delay_ms or None,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return dataclasses.replace(summary, plan=plan)
