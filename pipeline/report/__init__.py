"""Reports over a results document (``results.json`` as a dict): what the terminal and HTML share.

- :func:`pipeline.report.terminal.render_table` prints the table, recommendation and provenance
  to a ``rich`` console.
- :func:`pipeline.report.html.render_html` returns one self-contained, offline HTML page.

Both are pure: they read the document and never rank or measure anything themselves, except that a
document without a ``recommended`` key gets one computed by :func:`pipeline.pareto.recommend` for
display. This module holds the formatting and summaries both use, so that the two agree figure for
figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.pareto import (
    NOT_RANKED,
    OBJECTIVE_LABELS,
    accuracy_loss,
    effective_objectives,
    format_number,
    get_path,
    is_number,
    is_valid,
    loss_is_fidelity,
    power_estimated,
    recommend,
)

DASH = "–"
ESTIMATE_MARK = "~"
FIDELITY_MARK = "†"
FRONT_MARK = "★"

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
    ("top1", "top-1 (%)"),
    ("loss", "loss (pp)"),
    ("front", "front"),
    ("valid", "valid"),
]
NUMERIC_COLUMNS = {"batch", "throughput", "p50", "p99", "power", "ipj", "top1", "loss"}

_OBJECTIVE_PHRASES = {
    ("inferences_per_joule", "max"): "most inferences per joule",
    ("accuracy_loss_abs", "min"): "least accuracy loss",
    ("latency_p99_ms", "min"): "lowest p99 latency",
    ("throughput_ips", "max"): "most throughput",
}
_SENSE_WORDS = {"max": "highest", "min": "lowest"}


def legend(table_rows: Sequence[Row]) -> str:
    """What the marks in the table mean; only the marks that occur (the front mark always)."""
    parts = [f"{FRONT_MARK} on the Pareto front (other numbers: later fronts; {DASH}: not ranked)"]
    if any(r.estimated for r in table_rows):
        parts.append(f"{ESTIMATE_MARK} power estimated, not measured")
    if any(r.fidelity for r in table_rows):
        parts.append(f"{FIDELITY_MARK} fidelity loss (1 − top-1 agreement with FP32), no labels")
    parts.append("loss in percentage points, absolute")
    return " · ".join(parts)


def no_recommendation(doc: Mapping[str, Any]) -> str:
    """Why there is no recommendation, in one sentence."""
    recs = records(doc)
    if not recs:
        return "No measurements came back."
    ranked = [r for r in recs if r.get("pareto_rank") == 0 and is_valid(r)]
    if not ranked:
        return (
            f"None of the {len(recs)} measurement{'s' if len(recs) != 1 else ''} is both valid and within "
            "the constraints: the notes say why for each."
        )
    return "No valid record on the front meets the constraints."


def fmt(value: Any, scale: float = 1.0, strip: bool = True) -> str:
    """``value × scale`` to three significant digits (``format_number``); "–" when missing.
    ``strip=False`` keeps trailing zeros (2.30), which lines columns up in tables."""
    if not is_number(value):
        return DASH
    return format_number(float(value) * scale, strip=strip)


def fmt_pct(value: Any, scale: float = 100.0) -> str:
    """A percentage or percentage points (``value × scale``) to one decimal, or two significant
    digits below 0.1 so that a small non-zero loss does not read as 0.0; "–" when missing."""
    if not is_number(value):
        return DASH
    v = float(value) * scale
    if v == 0 or abs(v) >= 0.1:
        return f"{v:.1f}"
    return format_number(v, sig=2)


def text(value: Any) -> str:
    """A string field for display; "–" when missing."""
    if value is None or value == "":
        return DASH
    return str(value)


@dataclass(frozen=True)
class Row:
    """One table row: the record, its cells as display strings, and what styles it."""

    record: Mapping[str, Any]
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


def records(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in doc.get("variants") or [] if isinstance(r, Mapping)]


def sort_key(record: Mapping[str, Any]) -> tuple:
    """Front first, then later fronts, then unranked; within each, most inferences per joule, then
    most throughput."""
    rank = record.get("pareto_rank")
    ranked = isinstance(rank, int) and not isinstance(rank, bool) and is_valid(record)
    ipj = record.get("inferences_per_joule")
    tput = record.get("throughput_ips")
    return (
        0 if ranked else 1,
        rank if ranked else 0,
        -float(ipj) if is_number(ipj) else math.inf,
        -float(tput) if is_number(tput) else math.inf,
        str(record.get("id")),
    )


def recommendation(doc: Mapping[str, Any]) -> dict[str, str] | None:
    """The document's ``recommended`` entry; computed with ``recommend`` when the key is absent."""
    if "recommended" in doc:
        rec = doc.get("recommended")
        return rec if isinstance(rec, Mapping) and rec.get("id") is not None else None
    return recommend(records(doc), doc.get("constraints") or {}, doc.get("objectives") or None)


def shared_notes(recs: Sequence[Mapping[str, Any]]) -> set[str]:
    """Notes too common to repeat on each row: carried by more than half of the records (at least two).
    They are listed once with the notes; ``"not ranked: …"`` notes always stay on their row."""
    counts: dict[str, int] = {}
    for r in recs:
        for n in {str(n) for n in r.get("notes") or []}:
            counts[n] = counts.get(n, 0) + 1
    return {n for n, c in counts.items() if c >= 2 and c * 2 > len(recs) and not n.startswith(NOT_RANKED)}


def rows(doc: Mapping[str, Any]) -> list[Row]:
    """The table rows of ``doc``, sorted front first and then by inferences per joule."""
    rec = recommendation(doc)
    rec_id = rec.get("id") if rec else None
    recs = sorted(records(doc), key=sort_key)
    common = shared_notes(recs)
    out = []
    for r in recs:
        estimated = power_estimated(r)
        fidelity = loss_is_fidelity(r)
        mark = ESTIMATE_MARK if estimated else ""
        rank = r.get("pareto_rank")
        rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else None
        valid = is_valid(r)
        if rank is None or not valid:
            front = DASH
        else:
            front = FRONT_MARK if rank == 0 else str(rank)
        power_w = get_path(r, "power.avg_w")
        ipj = r.get("inferences_per_joule")
        loss = accuracy_loss(r)
        top1 = get_path(r, "accuracy.top1")
        cells = {
            "variant": text(r.get("variant_id")),
            "runtime": _runtime(r),
            "precision": text(r.get("precision")),
            "device": text(r.get("device_id")),
            "batch": text(r.get("batch_size")),
            "throughput": fmt(r.get("throughput_ips"), strip=False),
            "p50": fmt(get_path(r, "latency_ms.p50"), strip=False),
            "p99": fmt(get_path(r, "latency_ms.p99"), strip=False),
            "power": mark + fmt(power_w, strip=False) if is_number(power_w) else DASH,
            "ipj": mark + fmt(ipj, strip=False) if is_number(ipj) else DASH,
            "top1": fmt_pct(top1),
            "loss": fmt_pct(loss) + (FIDELITY_MARK if fidelity and loss is not None else ""),
            "front": front,
            "valid": "✓" if valid else "✗",
        }
        notes = tuple(str(n) for n in r.get("notes") or [] if str(n) not in common)
        meets = r.get("meets_sla")
        out.append(
            Row(
                record=r,
                cells=cells,
                rank=rank,
                valid=valid,
                estimated=estimated,
                fidelity=fidelity,
                recommended=rec_id is not None and r.get("id") == rec_id,
                meets_sla=meets if isinstance(meets, bool) else None,
                notes=notes,
            )
        )
    return out


def _runtime(record: Mapping[str, Any]) -> str:
    name = text(record.get("runtime"))
    version = record.get("runtime_version")
    return f"{name} {version}" if version else name


def short_ids(ids: Sequence[str], keep: int = 3) -> str:
    """``a, b, c and 5 more`` for a long list of record ids."""
    if len(ids) <= keep + 1:
        return ", ".join(ids)
    return ", ".join(ids[:keep]) + f" and {len(ids) - keep} more"


def find_record(doc: Mapping[str, Any], record_id: Any) -> Mapping[str, Any] | None:
    for r in records(doc):
        if r.get("id") == record_id:
            return r
    return None


def ranking_summary(doc: Mapping[str, Any]) -> str:
    """One sentence: which objectives ranked the records and which constraints applied."""
    used, changes = effective_objectives(records(doc), doc.get("objectives") or None)
    parts = [
        _OBJECTIVE_PHRASES.get((n, s)) or f"{_SENSE_WORDS.get(s, s)} {OBJECTIVE_LABELS.get(n, n)}"
        for n, s in used.items()
    ]
    sentence = "Ranked on " + (", ".join(parts) if parts else "nothing") + "."
    constraints = doc.get("constraints") or {}
    limits = []
    if is_number(constraints.get("sla_p99_ms")):
        limits.append(f"p99 ≤ {fmt(constraints['sla_p99_ms'])} ms")
    if is_number(constraints.get("max_accuracy_loss_abs")):
        limits.append(f"accuracy loss ≤ {fmt(constraints['max_accuracy_loss_abs'], 100)} pp")
    sentence += " Constraints: " + (", ".join(limits) if limits else "none") + "."
    for change in changes:
        sentence += " " + change[0].upper() + change[1:] + "."
    return sentence


def _span(values: Sequence[float], unit: str = "", scale: float = 1.0) -> str:
    nums = [float(v) for v in values if is_number(v)]
    if not nums:
        return DASH
    lo, hi = min(nums), max(nums)
    suffix = f" {unit}" if unit else ""
    if fmt(lo, scale) == fmt(hi, scale):
        return fmt(lo, scale) + suffix
    return f"{fmt(lo, scale)}–{fmt(hi, scale)}{suffix}"


def power_provenance(doc: Mapping[str, Any]) -> list[str]:
    """Plain lines on where the power figures come from: one per (source, estimated, method)."""
    recs = records(doc)
    groups: dict[tuple[str, bool, str], list[Mapping[str, Any]]] = {}
    without = 0
    for r in recs:
        power = r.get("power")
        if not isinstance(power, Mapping):
            without += 1
            continue
        key = (text(power.get("source")), bool(power.get("estimated")), str(power.get("method") or ""))
        groups.setdefault(key, []).append(r)
    lines = []
    for (source, estimated, method), group in groups.items():
        kind = "ESTIMATED, not measured" if estimated else "measured"
        runs = f"{len(group)} run{'s' if len(group) != 1 else ''}"
        samples = _span([get_path(r, "power.samples") for r in group])
        rate = _span([get_path(r, "power.rate_hz") for r in group], "Hz")
        idle = _span([get_path(r, "power.idle_w") for r in group], "W")
        line = f"{source}: {kind}; {runs}, {samples} samples each at {rate}; idle {idle}"
        if method:
            line += f"; method: {method}"
        lines.append(line)
    if without:
        lines.append(
            f"{without} run{'s' if without != 1 else ''} without a power figure: "
            "no energy or inferences per joule for " + ("it" if without == 1 else "them")
        )
    if not recs:
        lines.append("no measurements")
    return lines


def measurement_summary(doc: Mapping[str, Any]) -> str:
    """One line: measured window durations, queries and samples, over all records."""
    recs = records(doc)
    if not recs:
        return "no measurements"
    return (
        f"{len(recs)} measurement{'s' if len(recs) != 1 else ''}; windows "
        f"{_span([r.get('duration_s') for r in recs], 's')}, "
        f"{_span([r.get('queries') for r in recs])} queries, "
        f"{_span([r.get('samples') for r in recs])} samples each; accuracy on "
        f"{_span([get_path(r, 'accuracy.samples') for r in recs])} eval samples"
    )


def grouped_notes(doc: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """Each distinct note with the ids of the records that carry it (``["all"]`` when every one does),
    in order of first appearance."""
    recs = records(doc)
    seen: dict[str, list[str]] = {}
    for r in recs:
        for n in r.get("notes") or []:
            ids = seen.setdefault(str(n), [])
            rid = str(r.get("id"))
            if rid not in ids:
                ids.append(rid)
    out = []
    for note, ids in seen.items():
        out.append((note, ["all"] if len(recs) > 1 and len(ids) == len(recs) else ids))
    return out


def failures(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(variant_id, device_id, error)`` for each failed variant."""
    out = []
    for f in doc.get("failed") or []:
        if isinstance(f, Mapping):
            error = " ".join(str(f.get("error") or "").split()) or DASH
            out.append((text(f.get("variant_id")), text(f.get("device_id")), error))
    return out


def not_ranked_reason(record: Mapping[str, Any]) -> str | None:
    """Why ``rank_records`` left the record unranked, from its ``"not ranked: …"`` note."""
    for n in record.get("notes") or []:
        if str(n).startswith(NOT_RANKED):
            return str(n)[len(NOT_RANKED) :]
    return None
