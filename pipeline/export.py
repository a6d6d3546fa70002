"""``results.json``, the public contract (README.md, "results.json", ``schema_version`` 2), and the
run's other output files: ``results.csv`` (one row per record), ``report.md`` (a summary for a pull
request) and ``report.html``.

The document is written from the :class:`~pipeline.summary.RunSummary` at the edge, field by field
from each :class:`~pipeline.record.Record` (a field's ``metadata["json"]`` names it where the
contract's name differs), plus the ranking's verdicts. Changes to the contract are additions only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from pipeline import RESULTS_SCHEMA_VERSION, __version__
from pipeline.files import write_atomic
from pipeline.planner import PlanResult
from pipeline.record import Record
from pipeline.report import render_html, render_table
from pipeline.report.csv_rows import csv_text
from pipeline.report.markdown import render_markdown
from pipeline.summary import RunSummary

SCHEMA_VERSION = RESULTS_SCHEMA_VERSION
RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"
CSV_FILE = "results.csv"
MARKDOWN_FILE = "report.md"


def results_document(summary: RunSummary) -> dict[str, Any]:
    """The ``results.json`` document of ``summary``: plain JSON values, no NaN or infinity."""
    rec = summary.recommendation
    return {
        "schema_version": SCHEMA_VERSION,
        "edgeprof_version": __version__,
        "run_id": summary.run_id,
        "created_at": summary.created_at,
        "model": _jsonable(summary.model),
        "eval": _jsonable(summary.eval_info),
        "objectives": {o.name: o.sense for o in summary.objectives},
        "constraints": {
            "sla_p99_ms": summary.constraints.sla_p99_ms,
            "max_accuracy_loss_abs": summary.constraints.max_accuracy_loss,
            "max_accuracy_loss_origin": summary.constraints.accuracy_budget_origin,
            "max_memory_mb": summary.constraints.max_memory_mb,
        },
        "ranking": {
            "objectives_used": [o.name for o in summary.ranking.objectives],
            "fallback_notes": list(summary.ranking.fallback_notes),
            "excluded_estimates": summary.ranking.excluded_estimates,
            "rule": summary.rule,
        },
        "devices": [
            {
                "device_id": s.device_id,
                "target": s.target,
                "hostname": s.hostname,
                "runtimes": dict(s.runtimes),
                "power_sources": list(s.power_sources),
                "agent_version": s.agent_version,
            }
            for s in summary.devices.values()
        ],
        "variants": [record_document(summary, r) for r in summary.records],
        "failed": [_jsonable(f) for f in summary.failures],
        "unfinished": [_jsonable(u) for u in summary.unfinished],
        "recommended": {"id": rec.id, "reason": rec.reason, "rule": rec.rule} if rec else None,
        "recommended_per_target": {
            target: {"id": r.id, "reason": r.reason, "rule": r.rule} if r else None
            for target, r in summary.per_target.items()
        },
        "plan": plan_document(summary.plan) if summary.plan is not None else None,
    }


def plan_document(plan: PlanResult) -> dict[str, Any]:
    """The planner's answer as JSON: the workload, every option sized, and the choices."""
    w = plan.workload
    return {
        "workload": {
            "rate_per_s": w.rate_per_s,
            "p99_ms": w.p99_ms,
            "arrivals": "trace" if w.trace is not None else "poisson",
            "trace": w.trace_source,
            "peak_rate_per_s": w.peak_rate_per_s,
            "budget_usd_per_month": w.budget_usd_per_month,
        },
        "options": [_jsonable(o) for o in plan.options],
        "cheapest": plan.cheapest.label if plan.cheapest else None,
        "cheapest_measured": plan.cheapest_measured.label if plan.cheapest_measured else None,
        "fastest": plan.fastest.label if plan.fastest else None,
        "autoscaling": _jsonable(plan.autoscaling) if plan.autoscaling else None,
        "answer": plan.answer,
        "over_provision": plan.over_provision,
        "method": plan.method,
        "max_delays_ms": list(plan.delays_ms),
        "left_out": list(plan.left_out),
    }


def record_document(summary: RunSummary, record: Record) -> dict[str, Any]:
    """One entry of ``variants``: the record's fields, its rank and SLA verdict, and every note."""
    out: dict[str, Any] = _jsonable(record)
    out.pop("notes", None)
    out["pareto_rank"] = summary.ranking.rank(record.id)
    out["target_pareto_rank"] = summary.ranking.target_rank(record.id)
    out["figure_kinds"] = dict(summary.ranking.figure_kinds(record.id))
    out["meets_sla"] = summary.ranking.meets_sla(record.id)
    out["notes"] = list(summary.notes(record))
    return out


def write_outputs(out_dir: Path, summary: RunSummary, console: Console) -> None:
    """Write ``results.json``, ``results.csv``, ``report.md`` and ``report.html`` into ``out_dir``
    atomically, then print the terminal report to ``console``."""
    out_dir = Path(out_dir)
    document = json.dumps(results_document(summary), indent=2, allow_nan=False) + "\n"
    write_atomic(out_dir / RESULTS_FILE, document)
    write_atomic(out_dir / CSV_FILE, csv_text(summary))
    write_atomic(out_dir / MARKDOWN_FILE, render_markdown(summary))
    write_atomic(out_dir / REPORT_FILE, render_html(summary))
    render_table(summary, console)
    written = ", ".join(str(out_dir / name) for name in (REPORT_FILE, MARKDOWN_FILE, RESULTS_FILE, CSV_FILE))
    console.print(f"\nwrote {written}", soft_wrap=True, markup=False)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON values: dataclasses and mappings as objects (contract names from field
    metadata), sequences as lists, non-finite floats as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.metadata.get("json", f.name): _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} to results.json: {value!r}")
