"""The sweep of one job: batch sizes x queries in flight, within the job's deadline and its SLA.

Points run in order, smallest batch and fewest queries in flight first, because latency grows with
both: once a point's p99 is more than ``SLA_BROKEN_FACTOR`` times the SLA, more queries in flight at
that batch size are not tried, and when that happens at the fewest in flight, neither are larger
batches. Each skipped point is named in a note.

The job's deadline is shared out: before each point the time left (less ``RESULT_MARGIN_S`` for
writing the result) is divided among the points still to run, and a window may not outlast its
share. A point that cannot fit its warm-up and minimum window is skipped with a note, so that the
worker reports what it measured instead of being killed with nothing.

:func:`throughput_at_sla` is the figure the sweep exists for: the highest throughput among the valid
measurements whose p99 meets the SLA.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from agent.errors import InferenceError
from agent.harness import EvalSet, IdlePower, WindowSettings, measure
from agent.protocol import BenchmarkJob, Measurement, ThroughputAtSLA
from agent.protocol.progress import Progress

#: A p99 this many times the SLA is "clearly broken": larger settings would only be slower.
SLA_BROKEN_FACTOR = 2.0
#: Seconds kept back from the deadline for scoring, closing the runtime and writing the result.
RESULT_MARGIN_S = 3.0
#: Seconds of profiled queries after a window when the job asks for a layer profile.
PROFILE_S = 0.5


@dataclasses.dataclass(frozen=True)
class Deadline:
    """The instant (``time.monotonic()``) by which the sweep must be done."""

    at_monotonic_s: float

    @classmethod
    def from_unix(cls, deadline_at: float, margin_s: float = RESULT_MARGIN_S) -> Deadline:
        return cls(time.monotonic() + (deadline_at - time.time()) - margin_s)

    def left_s(self) -> float:
        return self.at_monotonic_s - time.monotonic()


def sweep_points(job: BenchmarkJob) -> List[Tuple[int, int]]:
    """(batch size, queries in flight) in the order they run."""
    return [(b, c) for b in sorted(set(job.batch_sizes)) for c in sorted(set(job.concurrency))]


def run_sweep(
    runtime: Any,
    data: EvalSet,
    job: BenchmarkJob,
    *,
    min_duration_s: float,
    deadline: Deadline,
    sampler: Any = None,
    idle: Optional[IdlePower] = None,
    fixed_batch: Optional[int] = None,
    score_accuracy: bool = False,
    sysfs_root: Path = Path("/sys"),
    progress: Optional[Callable[[Progress], None]] = None,
) -> Tuple[List[Measurement], List[str]]:
    """Every point of the job that fits, and the notes on those that did not. ``progress`` is told
    each window's phases as they start, with an ETA: the windows left times the last window's warm-up
    and duration (the planned ones before the first)."""
    points = sweep_points(job)
    planned = [p for p in points if fixed_batch is None or p[0] == fixed_batch]
    per_window_s = job.warmup_s + max(min_duration_s, 0.5)
    lowest = min(job.concurrency)
    measurements: List[Measurement] = []
    notes: List[str] = []
    broken_from_batch: Optional[int] = None  # batch sizes above this are not tried
    broken_at: dict = {}  # batch -> concurrency above which that batch is not tried
    sec_per_sample = 0.0  # from the last window, to reserve time for scoring accuracy
    for index, (batch, level) in enumerate(points):
        if fixed_batch is not None and batch != fixed_batch:
            if level == lowest:
                notes.append(
                    "batch %d skipped: the model's batch axis is fixed to %d (export it with a dynamic batch axis "
                    "to sweep batch sizes)" % (batch, fixed_batch)
                )
            continue
        if broken_from_batch is not None and batch > broken_from_batch:
            if level == lowest:
                notes.append(
                    "batch %d not measured: at batch %d the p99 was already over %gx the %g ms SLA"
                    % (batch, broken_from_batch, SLA_BROKEN_FACTOR, job.sla_p99_ms or 0)
                )
            continue
        if batch in broken_at and level > broken_at[batch]:
            notes.append(
                "batch %d with %d in flight not measured: with %d in flight the p99 was already over %gx the SLA"
                % (batch, level, broken_at[batch], SLA_BROKEN_FACTOR)
            )
            continue
        scoring = score_accuracy and level == lowest
        reserve = sec_per_sample * data.size if scoring else 0.0
        left = deadline.left_s()
        needed = job.warmup_s + min_duration_s + reserve
        if left < needed:
            notes.append(
                "%s not measured: %.1f s were left before the job's %.0f s deadline and the window needs %.1f s "
                "(raise the job deadline or measure fewer batch sizes)"
                % (_point(batch, level, lowest), max(0.0, left), job.deadline_s, needed)
            )
            continue
        share = left / max(1, len(points) - index)
        settings = WindowSettings(
            warmup_s=job.warmup_s,
            min_duration_s=min_duration_s,
            min_queries=job.min_queries,
            iterations=job.iterations,
            concurrency=level,
            max_window_s=max(min_duration_s, share - job.warmup_s - reserve),
        )
        k = planned.index((batch, level)) + 1
        left_s = (len(planned) - k + 1) * per_window_s + reserve
        on_phase = _phase_reporter(progress, Progress("warm-up", k, len(planned), batch, level, left_s), job.warmup_s)
        try:
            m = measure(
                runtime,
                data,
                batch,
                sampler=sampler,
                sysfs_root=sysfs_root,
                settings=settings,
                idle=idle,
                accuracy_samples=job.max_accuracy_samples if scoring else None,
                profile_s=PROFILE_S if job.profile_layers and level == lowest else 0.0,
                on_phase=on_phase,
            )
        except InferenceError as exc:  # e.g. out of memory at the largest batch: keep the others
            notes.append("%s not measured: %s" % (_point(batch, level, lowest), exc))
            continue
        if m.accuracy is None and level != lowest:  # the same batch size scores the same
            same = [x for x in measurements if x.batch_size == batch and x.accuracy is not None]
            if same:
                m = dataclasses.replace(m, accuracy=same[0].accuracy)
        measurements.append(m)
        sec_per_sample = m.duration_s / max(1, m.samples)
        per_window_s = job.warmup_s + m.duration_s
        sla = job.sla_p99_ms
        if sla is not None and m.latency_ms.p99 > SLA_BROKEN_FACTOR * sla:
            if level == lowest:
                broken_from_batch = batch
            broken_at[batch] = level
    return measurements, notes


def _phase_reporter(
    progress: Optional[Callable[[Progress], None]], start: Progress, warmup_s: float
) -> Callable[[str], None]:
    """Tells ``progress`` each phase of one window, the ETA counted down from ``start.eta_s`` by the
    warm-up once it is over and by the window once accuracy or the profile begins."""
    window_s = (start.eta_s or 0.0) / max(1, start.n - start.k + 1) - warmup_s

    def on_phase(name: str) -> None:
        if progress is None:
            return
        left = start.eta_s or 0.0
        if name != "warm-up":
            left -= warmup_s
        if name in ("accuracy", "layer profile"):
            left -= max(0.0, window_s)
        progress(dataclasses.replace(start, phase=name, eta_s=max(0.0, left)))

    return on_phase


def _point(batch: int, level: int, lowest: int) -> str:
    return "batch %d" % batch if level == lowest == 1 else "batch %d with %d in flight" % (batch, level)


def throughput_at_sla(measurements: List[Measurement], sla_p99_ms: Optional[float]) -> Optional[ThroughputAtSLA]:
    """The highest throughput among the valid measurements whose p99 meets ``sla_p99_ms``."""
    if sla_p99_ms is None:
        return None
    meeting = [m for m in measurements if m.valid and m.latency_ms.p99 <= sla_p99_ms]
    if not meeting:
        return None
    best = max(meeting, key=lambda m: m.throughput_ips)
    return ThroughputAtSLA(
        throughput_ips=best.throughput_ips,
        batch_size=best.batch_size,
        concurrency=best.concurrency,
        p99_ms=best.latency_ms.p99,
        sla_p99_ms=sla_p99_ms,
    )
