"""``results.json``, the public contract (README.md, "results.json", ``schema_version`` 2), and the
run's output files.

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
from pipeline.record import Record
from pipeline.report import render_html, render_table
from pipeline.summary import RunSummary

SCHEMA_VERSION = RESULTS_SCHEMA_VERSION
RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"


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
        "recommended": {"id": rec.id, "reason": rec.reason} if rec else None,
    }


def record_document(summary: RunSummary, record: Record) -> dict[str, Any]:
    """One entry of ``variants``: the record's fields, its rank and SLA verdict, and every note."""
    out: dict[str, Any] = _jsonable(record)
    out.pop("notes", None)
    out["pareto_rank"] = summary.ranking.rank(record.id)
    out["meets_sla"] = summary.ranking.meets_sla(record.id)
    out["notes"] = list(summary.notes(record))
    return out


def write_outputs(out_dir: Path, summary: RunSummary, console: Console) -> None:
    """Write ``results.json`` and ``report.html`` into ``out_dir`` atomically, then print the
    terminal report to ``console``."""
    out_dir = Path(out_dir)
    document = json.dumps(results_document(summary), indent=2, allow_nan=False) + "\n"
    write_atomic(out_dir / RESULTS_FILE, document)
    write_atomic(out_dir / REPORT_FILE, render_html(summary))
    render_table(summary, console)
    console.print(f"\nwrote {out_dir / REPORT_FILE} and {out_dir / RESULTS_FILE}", soft_wrap=True, markup=False)


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
