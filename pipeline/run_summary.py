"""A run as the database holds it: what the main job records up front, and the summary rebuilt from it.

``edgeprof report`` and the main job both go through :func:`summary_for_run`, so a report rebuilt
later says exactly what the first one said, including the jobs that never answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.errors import ProtocolError
from agent.protocol import AgentStatus, BenchmarkResult, decode
from pipeline.build import Built
from pipeline.inputs import PreparedInputs
from pipeline.plan import Skipped
from pipeline.request import RunRequest
from pipeline.results_db import ResultsDB
from pipeline.summary import Failure, RunSummary, Unfinished, summarize


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
    }


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


def summary_for_run(
    db: ResultsDB, run_id: str, live_devices: Mapping[str, AgentStatus] | None = None, interrupted: bool = False
) -> RunSummary:
    """Rebuild the summary of ``run_id`` from the database (KeyError when there is no such run)."""
    meta = db.run_meta(run_id)
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
        Unfinished(job.job_id, job.variant_id, job.device_id, job.state, job.detail or reason)
        for job in db.jobs(run_id)
        if not job.has_result
    ]
    return summarize(
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
    )
