"""``results.csv``: one row per record, flat, units in the column names, for a spreadsheet.

The columns are a flat view of ``results.json``'s records (same figures, same verdicts); a missing
figure is an empty cell. Nested inputs and provenance stay in ``results.json``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from pipeline.record import Record
from pipeline.summary import RunSummary

Cell = Callable[[RunSummary, Record], Any]


def _power(attr: str) -> Cell:
    return lambda s, r: getattr(r.power, attr) if r.power is not None else None


def _acc(attr: str) -> Cell:
    return lambda s, r: getattr(r.accuracy, attr) if r.accuracy is not None else None


def _cost(attr: str) -> Cell:
    return lambda s, r: getattr(r.cost, attr) if r.cost is not None else None


def _roof(attr: str) -> Cell:
    return lambda s, r: getattr(r.roofline, attr) if r.roofline is not None else None


#: (column, value): the CSV's columns in order.
def _ci(figure: str, bound: str) -> Cell:
    """A bound of the record's interval for ``figure`` over its repeated windows (empty for one window)."""

    def cell(s: RunSummary, r: Record) -> Any:
        spread = r.spread.figures.get(figure) if r.spread is not None else None
        return getattr(spread, bound) if spread is not None else None

    return cell


COLUMNS: list[tuple[str, Cell]] = [
    ("id", lambda s, r: r.id),
    ("variant_id", lambda s, r: r.variant_id),
    ("runtime", lambda s, r: r.runtime),
    ("runtime_version", lambda s, r: r.runtime_version),
    ("precision", lambda s, r: r.precision),
    ("device_id", lambda s, r: r.device_id),
    ("target", lambda s, r: r.target),
    ("batch_size", lambda s, r: r.batch_size),
    ("throughput_ips", lambda s, r: r.throughput_ips),
    ("latency_p50_ms", lambda s, r: r.latency_ms.p50),
    ("latency_p99_ms", lambda s, r: r.latency_ms.p99),
    ("latency_mean_ms", lambda s, r: r.latency_ms.mean),
    ("power_avg_w", _power("avg_w")),
    ("power_idle_w", _power("idle_w")),
    ("power_source", _power("source")),
    ("power_estimated", _power("estimated")),
    ("inferences_per_joule", lambda s, r: r.inferences_per_joule),
    ("energy_j_per_inference", lambda s, r: r.energy_j_per_inference),
    ("top1", _acc("top1")),
    ("loss_abs", _acc("loss")),
    ("loss_kind", _acc("loss_kind")),
    ("cosine", _acc("cosine")),
    ("cost_usd_per_million_full_load", _cost("usd_per_million_full_load")),
    ("cost_usd_per_million_at_load", _cost("usd_per_million_at_load")),
    ("cost_utilisation", _cost("utilisation")),
    ("cost_pricing", _cost("pricing")),
    ("cost_estimated", _cost("estimated")),
    ("roofline_bound", _roof("bound")),
    ("roofline_fraction", _roof("fraction")),
    ("roofline_bound_ips", _roof("bound_ips")),
    ("roofline_intensity_flop_per_byte", _roof("intensity_flop_per_byte")),
    ("roofline_ridge_flop_per_byte", _roof("ridge_flop_per_byte")),
    ("roofline_estimated", _roof("estimated")),
    ("memory_need_bytes", lambda s, r: r.memory_fit.need_bytes if r.memory_fit is not None else None),
    ("repeats", lambda s, r: r.repeats),
    ("inferences_per_joule_ci_low", _ci("inferences_per_joule", "ci_low")),
    ("inferences_per_joule_ci_high", _ci("inferences_per_joule", "ci_high")),
    ("throughput_ci_low", _ci("throughput_ips", "ci_low")),
    ("throughput_ci_high", _ci("throughput_ips", "ci_high")),
    ("pareto_rank", lambda s, r: s.ranking.rank(r.id)),
    ("target_pareto_rank", lambda s, r: s.ranking.target_rank(r.id)),
    ("meets_sla", lambda s, r: s.ranking.meets_sla(r.id)),
    ("valid", lambda s, r: r.valid),
    ("recommended", lambda s, r: s.recommendation is not None and s.recommendation.id == r.id),
    ("notes", lambda s, r: " | ".join(s.notes(r))),
]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else ""
    return str(value)


def csv_text(summary: RunSummary) -> str:
    """The CSV document of ``summary``: a header, then one row per record in the run's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in COLUMNS])
    for record in summary.records:
        writer.writerow([_cell(value(summary, record)) for _, value in COLUMNS])
    return buffer.getvalue()
