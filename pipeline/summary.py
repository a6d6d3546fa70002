"""TEMPORARY shim with the API of the decision-side rewrite (replaced when it lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Failure:
    variant_id: str
    device_id: str
    error: str


@dataclass(frozen=True)
class Unfinished:
    job_id: str
    variant_id: str
    device_id: str
    state: str
    reason: str


RunSummary = dict


def summarize(results: Any, **kw: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from pipeline.records import build_document, build_records

    records, failed = build_records(results, kw["artifacts"], kw["devices"], kw["host_top1"])
    doc = build_document(
        run_id=kw["run_id"],
        model=kw["model"],
        eval_info=kw["eval_info"],
        records=records,
        failed=[asdict(f) for f in kw["build_failures"]] + failed,
        devices=kw["devices"],
        sla_p99_ms=kw["sla_p99_ms"],
        max_accuracy_loss_abs=kw["max_accuracy_loss"],
    )
    doc["unfinished"] = [asdict(u) for u in kw["unfinished"]]
    return doc
