"""Why INT8 or a bigger batch helped, or did not, in words, from the roofline and the measurements.

Each sentence compares two records of one device and runtime: a reduced-precision build against FP32
at the same batch size, or one build at its largest batch against its smallest. It says what the
roofline predicts (bytes moved, intensity, the bound) and what the measurement did, and names the
limit: a build far below its bound is held back by the runtime's overheads, not by the hardware.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.numbers import format_number
from pipeline.record import Record

#: A build measured below this fraction of its roofline bound is limited by the runtime, not the roofline;
#: one above ``NEAR`` is close to the roofline.
FAR_BELOW = 0.2
NEAR = 0.6
#: Changes smaller than this (relative) are within one run's noise (pipeline.recommend.INDISTINGUISHABLE).
NOISE = 0.05


def _x(ratio: float) -> str:
    return f"{format_number(ratio, sig=2)}×"


def _verdict(ratio: float) -> str:
    if ratio > 1 + NOISE:
        return f"rose {_x(ratio)}"
    if ratio < 1 - NOISE:
        return f"fell to {_x(ratio)}"
    return "stayed within noise"


def _limit(record: Record) -> str:
    roof = record.roofline
    assert roof is not None
    pct = f"{format_number(roof.fraction * 100, sig=2)}%"
    if roof.fraction < FAR_BELOW:
        return f"at {pct} of its bound, the runtime's per-query overheads, not the {roof.bound} roofline, limit it"
    if roof.fraction < NEAR:
        return f"at {pct} of its bound, the runtime uses a fair share of the {roof.bound} roofline"
    return f"at {pct} of its bound it is close to the {roof.bound} roofline"


def precision_sentence(build: Record, fp32: Record) -> str | None:
    """Why ``build``'s reduced precision helped or did not, against ``fp32`` at the same batch."""
    a, b = build.roofline, fp32.roofline
    if a is None or b is None or not (fp32.throughput_ips > 0 and b.bound_ips > 0):
        return None
    measured = build.throughput_ips / fp32.throughput_ips
    bound = a.bound_ips / b.bound_ips
    weights = b.weight_bytes / a.weight_bytes if a.weight_bytes > 0 else 1.0
    head = (
        f"{build.precision} against FP32 at batch {build.batch_size} on {build.device_id}: weights "
        f"{format_number(b.weight_bytes / 1e6)} → {format_number(a.weight_bytes / 1e6)} MB ({_x(weights)} fewer), "
        f"intensity {format_number(b.intensity_flop_per_byte)} → {format_number(a.intensity_flop_per_byte)} FLOP/B, "
        f"so the roofline bound {_verdict(bound)} ({b.bound}-bound → {a.bound}-bound); measured throughput "
        f"{_verdict(measured)} ({format_number(fp32.throughput_ips)} → {format_number(build.throughput_ips)} inf/s)"
    )
    if measured > 1 + NOISE:
        tail = f": {build.precision} helped; {_limit(build)}"
    elif measured < 1 - NOISE:
        tail = (
            f": {build.precision} did not help although the bound {'rose' if bound > 1 else 'held'}; the runtime's "
            f"{build.precision} kernels are slower here than its FP32 ones ({_limit(build)})"
        )
    else:
        tail = f": no gain; {_limit(build)}"
    return head + tail + "."


def batch_sentence(large: Record, small: Record) -> str | None:
    """Why the larger batch helped or did not, for one build."""
    a, b = large.roofline, small.roofline
    if a is None or b is None or not (small.throughput_ips > 0 and b.bound_ips > 0):
        return None
    measured = large.throughput_ips / small.throughput_ips
    bound = a.bound_ips / b.bound_ips
    head = (
        f"{large.variant_id} at batch {large.batch_size} against {small.batch_size} on {large.device_id}: the weights "
        f"are read once per query, so intensity went {format_number(b.intensity_flop_per_byte)} → "
        f"{format_number(a.intensity_flop_per_byte)} FLOP/B (ridge {format_number(a.ridge_flop_per_byte)}) and the "
        f"bound {_verdict(bound)} ({b.bound}-bound → {a.bound}-bound); measured throughput {_verdict(measured)} "
        f"({format_number(small.throughput_ips)} → {format_number(large.throughput_ips)} inf/s)"
    )
    if measured > 1 + NOISE:
        tail = f": the bigger batch helped; {_limit(large)}"
    elif bound <= 1 + NOISE:
        tail = ": the bigger batch could not help: the build was already compute-bound at the smaller batch"
    else:
        tail = f": the bigger batch did not help; {_limit(large)}"
    return head + tail + "."


def explain(records: Sequence[Record], focus: Record) -> list[str]:
    """Sentences on why precision and batch size did what they did for ``focus``'s device and runtime."""
    same = [r for r in records if r.device_id == focus.device_id and r.runtime == focus.runtime and r.valid]
    out: list[str] = []
    fp32 = {r.batch_size: r for r in same if r.is_fp32}
    reduced = [r for r in same if not r.is_fp32 and r.batch_size == focus.batch_size]
    for build in sorted(reduced, key=lambda r: r.variant_id):
        base = fp32.get(build.batch_size)
        sentence = precision_sentence(build, base) if base is not None else None
        if sentence:
            out.append(sentence)
    batches = sorted((r for r in same if r.variant_id == focus.variant_id), key=lambda r: r.batch_size)
    if len(batches) >= 2:
        sentence = batch_sentence(batches[-1], batches[0])
        if sentence:
            out.append(sentence)
    return out
