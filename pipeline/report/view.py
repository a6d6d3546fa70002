"""What both reports show, as display strings: rows, legend, provenance lines, notes, summaries.

The terminal table and the HTML page are two renderings of this one view of a
:class:`~pipeline.summary.RunSummary`, so that they agree figure for figure. Nothing here ranks or
measures: figures come from the records, verdicts from the ranking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.numbers import DASH, fmt, fmt_pct, is_number
from pipeline.record import Record
from pipeline.report.decision_view import cost_cell, roofline_cell
from pipeline.summary import RunSummary, Unfinished

ESTIMATE_MARK = "~"
FIDELITY_MARK = "†"
FRONT_MARK = "★"
#: A power or inferences-per-joule figure above idle only (the device's idle power is unknown).
ABOVE_IDLE_MARK = "+"

# (key, header): the table columns, in order, units in the headers.
COLUMNS: list[tuple[str, str]] = [
    ("variant", "variant"),
    ("runtime", "runtime"),
    ("precision", "precision"),
    ("device", "device"),
    ("batch", "batch"),
    ("throughput", "throughput (inf/s)"),
    ("p50", "p50 (ms)"),
    ("p99", "p99 (ms)"),
    ("power", "power (W)"),
    ("ipj", "inf/J"),
    ("spread", "± spread"),
    ("top1", "top-1 (%)"),
    ("loss", "loss (pp)"),
    ("cost", "USD per 1M inf"),
    ("roof", "roofline (% of bound)"),
    ("front", "front"),
    ("valid", "valid"),
]
NUMERIC_COLUMNS = {"batch", "throughput", "p50", "p99", "power", "ipj", "spread", "top1", "loss", "cost", "roof"}
#: What the "± spread" cell shows, for the legend.
SPREAD_TEXT = (
    "± spread: half the min..max range of the N repeated windows as % of the median, of inf/J (throughput where "
    "there is no inf/J); builds whose intervals overlap are tied"
)
#: Columns holding identifiers: never folded or cut.
ID_COLUMNS = {"variant", "device"}


def text(value: Any) -> str:
    """A string field for display; "–" when missing."""
    if value is None or value == "":
        return DASH
    return str(value)


@dataclass(frozen=True)
class Row:
    """One table row: the record, its cells as display strings, and what styles it."""

    record: Record
    cells: dict[str, str]
    rank: int | None
    valid: bool
    estimated: bool
    fidelity: bool
    recommended: bool
    meets_sla: bool | None
    notes: tuple[str, ...]

    @property
    def front(self) -> bool:
        return self.rank == 0 and self.valid


def legend(table_rows: Sequence[Row]) -> str:
    """What the marks in the table mean; only the marks that occur (the front mark always)."""
    parts = [f"{FRONT_MARK} on the Pareto front (other numbers: later fronts; {DASH}: not ranked)"]
    if any(r.estimated for r in table_rows):
        parts.append(f"{ESTIMATE_MARK} power estimated, not measured")
    if any(r.record.cost is not None and r.record.cost.estimated for r in table_rows):
        parts.append(f"{ESTIMATE_MARK} cost: some inputs are estimates or defaults; cost at full load")
    if any(r.record.roofline is not None for r in table_rows):
        parts.append("roofline: measured throughput as % of the bound, mem = memory-bound, comp = compute-bound")
    if any(ABOVE_IDLE_MARK in r.cells["power"] or ABOVE_IDLE_MARK in r.cells["ipj"] for r in table_rows):
        parts.append(f"{ABOVE_IDLE_MARK} above idle only (no idle power figure for the device)")
    if any(r.fidelity for r in table_rows):
        kinds = {r.record.accuracy.loss_kind for r in table_rows if r.fidelity and r.record.accuracy is not None}
        what = " or ".join(
            k for k, on in (("1 − top-1 agreement", "fidelity" in kinds), ("1 − cosine", "cosine" in kinds)) if on
        )
        parts.append(f"{FIDELITY_MARK} fidelity loss against the FP32 outputs ({what}), no labels")
    if any(r.record.spread is not None for r in table_rows):
        parts.append(SPREAD_TEXT)
    parts.append("loss in percentage points, absolute")
    return " · ".join(parts)


def no_recommendation(summary: RunSummary) -> str:
    """Why there is no recommendation, in one sentence."""
    recs = summary.records
    if not recs:
        return "No measurements came back."
    if not any(summary.ranking.rank(r.id) == 0 and r.valid for r in recs):
        return (
            f"None of the {len(recs)} measurement{'s' if len(recs) != 1 else ''} is both valid and within "
            "the constraints: the notes say why for each."
        )
    return "No valid record on the front meets the constraints."


def sort_key(summary: RunSummary, record: Record) -> tuple[Any, ...]:
    """Front first, then later fronts, then unranked; within each, most inferences per joule, then
    most throughput."""
    rank = summary.ranking.rank(record.id)
    ranked = rank is not None and record.valid
    ipj, tput = record.inferences_per_joule, record.throughput_ips
    return (
        0 if ranked else 1,
        rank if ranked else 0,
        -ipj if ipj is not None and is_number(ipj) else math.inf,
        -tput if is_number(tput) else math.inf,
        record.id,
    )


def shared_notes(summary: RunSummary) -> set[str]:
    """Notes too common to repeat on each row: carried by more than half of the records (at least two).
    They are listed once with the notes; the ranking's ``"not ranked: …"`` notes always stay on their row."""
    counts: dict[str, int] = {}
    for r in summary.records:
        for n in set(r.notes):
            counts[n] = counts.get(n, 0) + 1
    return {n for n, c in counts.items() if c >= 2 and c * 2 > len(summary.records)}


def rows(summary: RunSummary) -> list[Row]:
    """The table rows, sorted front first and then by inferences per joule."""
    rec_id = summary.recommendation.id if summary.recommendation else None
    common = shared_notes(summary)
    out = []
    for r in sorted(summary.records, key=lambda r: sort_key(summary, r)):
        mark = ESTIMATE_MARK if r.power_estimated else ""
        rank = summary.ranking.rank(r.id)
        front = DASH if rank is None or not r.valid else FRONT_MARK if rank == 0 else str(rank)
        power_w, ipj, above = gross_or_above_idle(r)
        if above:
            mark += ABOVE_IDLE_MARK
        loss = r.accuracy_loss
        cells = {
            "variant": text(r.variant_id),
            "runtime": f"{text(r.runtime)} {r.runtime_version}" if r.runtime_version else text(r.runtime),
            "precision": text(r.precision),
            "device": text(r.device_id),
            "batch": text(r.batch_size) + (f" c{r.concurrency}" if r.concurrency > 1 else ""),
            "throughput": fmt(r.throughput_ips, strip=False),
            "p50": fmt(r.latency_ms.p50, strip=False),
            "p99": fmt(r.latency_ms.p99, strip=False),
            "power": mark + fmt(power_w, strip=False) if is_number(power_w) else DASH,
            "ipj": mark + fmt(ipj, strip=False) if is_number(ipj) else DASH,
            "spread": spread_cell(r),
            "top1": fmt_pct(r.accuracy.top1 if r.accuracy else None),
            "loss": fmt_pct(loss) + (FIDELITY_MARK if r.loss_is_fidelity and loss is not None else ""),
            "cost": cost_cell(r),
            "roof": roofline_cell(r),
            "front": front,
            "valid": "✓" if r.valid else "✗",
        }
        out.append(
            Row(
                record=r,
                cells=cells,
                rank=rank,
                valid=r.valid,
                estimated=r.power_estimated,
                fidelity=r.loss_is_fidelity,
                recommended=r.id == rec_id,
                meets_sla=summary.ranking.meets_sla(r.id),
                notes=tuple(n for n in summary.notes(r) if n not in common),
            )
        )
    return out


def spread_cell(r: Record) -> str:
    """``±2.1% N=3``: half the range of inf/J (else throughput) over the repeated windows, relative to
    the median; "–" for a single window."""
    if r.spread is None:
        return DASH
    figures = r.spread.figures
    figure = figures.get("inferences_per_joule") or figures.get("inferences_per_joule_above_idle")
    figure = figure or figures.get("throughput_ips")
    if figure is None or not figure.median:
        return DASH
    half = (figure.max - figure.min) / 2 / abs(figure.median) * 100
    return f"±{fmt(half, strip=False)}% N={figure.n}"


def gross_or_above_idle(r: Record) -> tuple[float | None, float | None, bool]:
    """(power W, inferences per joule, above idle?): the gross figures, or where the device's idle
    power is unknown the above-idle ones, flagged so the table can mark them."""
    power = r.power
    gross_w = power.avg_w if power is not None else None
    if is_number(gross_w) or is_number(r.inferences_per_joule):
        return gross_w, r.inferences_per_joule, False
    above_w = power.above_idle_w if power is not None else None
    ipj = r.inferences_per_joule_above_idle
    return above_w, ipj, is_number(above_w) or is_number(ipj)


def validity_line(r: Record) -> str:
    """What the window's trust rests on, in one line: window, p99 basis, power readings, foreign load."""
    v = r.validity
    if v is None:
        return f"{fmt(r.duration_s)} s, {fmt(r.queries)} queries (no validity figures from this agent)"
    bits = [
        f"{fmt(v.window_s)} s, {fmt(v.queries)} queries" + (f", {r.concurrency} in flight" if r.concurrency > 1 else "")
    ]
    bits.append("p99 interpolated" if v.p99_is_interpolation else "p99 measured")
    if v.power_samples is not None:
        bits.append(
            f"{v.power_samples} power readings at {fmt(v.power_rate_hz)} Hz "
            f"(sensor {fmt(v.power_nominal_rate_hz)} Hz, longest gap {fmt(v.power_max_gap_s)} s)"
        )
    elif v.power_refused:
        bits.append("power refused")
    if v.foreign_load is not None:
        bits.append(f"foreign load {fmt_pct(v.foreign_load)}% of {v.cpus} CPU(s)")
    if r.memory is not None and r.memory.peak_rss_mib is not None:
        bits.append(f"peak RSS {fmt(r.memory.peak_rss_mib)} MiB")
    return "; ".join(bits) + ("" if v.valid else " — INVALID")


def top_operators_line(r: Record, keep: int = 3) -> str:
    """``Conv 93% (1.2 ms), MaxPool 3% …`` from the record's layer profile; "" without one."""
    return ", ".join(
        f"{layer.op_type} {fmt_pct(layer.share)}% ({fmt(layer.time_ms)} ms)" for layer in r.layer_profile[:keep]
    )


def throughput_at_sla_lines(summary: RunSummary) -> list[str]:
    """Per variant and device: the highest throughput whose p99 met the SLA, with where it was met."""
    seen: dict[tuple[str, str], str] = {}
    for r in summary.records:
        t = r.throughput_at_sla
        if (r.variant_id, r.device_id) in seen or t is None:
            continue
        in_flight = f", {t.concurrency} in flight" if t.concurrency > 1 else ""
        seen[(r.variant_id, r.device_id)] = (
            f"{text(r.variant_id)} on {text(r.device_id)}: {fmt(t.throughput_ips)} inf/s at batch {t.batch_size}"
            f"{in_flight} (p99 {fmt(t.p99_ms)} ms ≤ {fmt(t.sla_p99_ms)} ms)"
        )
    return list(seen.values())


def short_ids(ids: Sequence[str], keep: int = 3) -> str:
    """``a, b, c and 5 more`` for a long list of ids."""
    if len(ids) <= keep + 1:
        return ", ".join(ids)
    return ", ".join(ids[:keep]) + f" and {len(ids) - keep} more"


def ranking_summary(summary: RunSummary) -> str:
    """One sentence: which objectives ranked the records and which constraints applied."""
    phrases = [o.phrase for o in summary.ranking.objectives]
    sentence = "Ranked on " + (", ".join(phrases) if phrases else "nothing") + "."
    constraints = summary.constraints
    limits = []
    if constraints.sla_p99_ms is not None:
        limits.append(f"p99 ≤ {fmt(constraints.sla_p99_ms)} ms")
    if constraints.max_accuracy_loss is not None:
        default = " (default)" if constraints.budget_is_default else ""
        limits.append(f"accuracy loss ≤ {fmt(constraints.max_accuracy_loss, 100)} pp{default}")
    if constraints.max_memory_mb is not None:
        limits.append(f"memory per query ≤ {fmt(constraints.max_memory_mb)} MB")
    sentence += " Constraints: " + (", ".join(limits) if limits else "none") + "."
    for change in summary.ranking.fallback_notes:
        sentence += " " + change[0].upper() + change[1:] + "."
    return sentence


def _span(values: Sequence[Any], unit: str = "", scale: float = 1.0) -> str:
    nums = [float(v) for v in values if is_number(v)]
    if not nums:
        return DASH
    lo, hi = min(nums), max(nums)
    suffix = f" {unit}" if unit else ""
    if fmt(lo, scale) == fmt(hi, scale):
        return fmt(lo, scale) + suffix
    return f"{fmt(lo, scale)}–{fmt(hi, scale)}{suffix}"


def power_provenance(summary: RunSummary) -> list[str]:
    """Plain lines on where the power figures come from: one per (source, estimated, method)."""
    groups: dict[tuple[str, bool, str], list[Record]] = {}
    without = 0
    for r in summary.records:
        if r.power is None:
            without += 1
            continue
        key = (text(r.power.source), bool(r.power.estimated), r.power.method or "")
        groups.setdefault(key, []).append(r)
    lines = []
    for (source, estimated, method), group in groups.items():
        kind = "ESTIMATED, not measured" if estimated else "measured"
        runs = f"{len(group)} run{'s' if len(group) != 1 else ''}"
        powers = [r.power for r in group if r.power is not None]
        samples = _span([p.samples for p in powers])
        rate = _span([p.rate_hz for p in powers], "Hz")
        idle = _span([p.idle_w for p in powers], "W")
        line = f"{source}: {kind}; {runs}, {samples} samples each at {rate}; idle {idle}"
        idle_sources = sorted({p.idle_source for p in powers if p.idle_source})
        if idle_sources:
            line += " (" + "; ".join(idle_sources) + ")"
        if method:
            line += f"; method: {method}"
        lines.append(line)
    if without:
        lines.append(
            f"{without} run{'s' if without != 1 else ''} without a power figure: "
            "no energy or inferences per joule for " + ("it" if without == 1 else "them")
        )
    if not summary.records:
        lines.append("no measurements")
    return lines


def measurement_summary(summary: RunSummary) -> str:
    """One line: measured window durations, queries and samples, over all records."""
    recs = summary.records
    if not recs:
        return "no measurements"
    return (
        f"{len(recs)} measurement{'s' if len(recs) != 1 else ''}; windows "
        f"{_span([r.duration_s for r in recs], 's')}, "
        f"{_span([r.queries for r in recs])} queries, "
        f"{_span([r.samples for r in recs])} samples each; accuracy on "
        f"{_span([r.accuracy.samples if r.accuracy else None for r in recs])} eval samples"
    )


def grouped_notes(summary: RunSummary) -> list[tuple[str, list[str]]]:
    """Each distinct note with the ids of the records that carry it (``["all"]`` when every one does),
    in order of first appearance."""
    recs = summary.records
    seen: dict[str, list[str]] = {}
    for r in recs:
        for n in summary.notes(r):
            ids = seen.setdefault(n, [])
            if r.id not in ids:
                ids.append(r.id)
    return [(note, ["all"] if len(recs) > 1 and len(ids) == len(recs) else ids) for note, ids in seen.items()]


def failures(summary: RunSummary) -> list[tuple[str, str, str]]:
    """``(variant_id, device_id, error)`` for each failed variant, the error on one line."""
    return [(text(f.variant_id), text(f.device_id), " ".join(f.error.split()) or DASH) for f in summary.failures]


def unfinished_headline(summary: RunSummary) -> str | None:
    """``"3 jobs issued for this run never reported: a on dev (queued), …"``; None when all reported."""
    jobs = summary.unfinished
    if not jobs:
        return None
    named = short_ids([f"{text(u.variant_id)} on {text(u.device_id)} ({text(u.state)})" for u in jobs])
    return f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} issued for this run never reported: {named}"


def unfinished_jobs(summary: RunSummary) -> list[Unfinished]:
    """The unfinished jobs, each field as display text (never empty), in the order they were issued."""
    return [
        Unfinished(
            job_id=text(u.job_id),
            variant_id=text(u.variant_id),
            device_id=text(u.device_id),
            state=text(u.state),
            reason=" ".join(u.reason.split()) or DASH,
        )
        for u in summary.unfinished
    ]


def not_ranked_reason(summary: RunSummary, record: Record) -> str | None:
    """Why the ranking left the record unranked; None when it is ranked."""
    reasons = summary.ranking.reasons(record.id)
    return "; ".join(reasons) if reasons else None
