"""What the measuring progress bar says while jobs run: each device's current phase and the run's ETA.

The agent reports the phases of a running job in its job states' detail (agent.protocol.progress:
"measuring · window 2 of 4 at batch 8 · eta 6 s"). The run's ETA is, per device, what its current job
still needs (the agent's own estimate, counted down since it came) plus its jobs not yet started,
each at the mean time a job of this run has taken (the measured rate) or, before any finished, at its
planned windows times their warm-up and duration; the run ends with its slowest device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.protocol import BenchmarkJob
from agent.protocol.progress import Progress, parse_progress


def planned_job_s(job: BenchmarkJob) -> float:
    """Seconds a job's windows are planned to take: each (batch, concurrency) point's warm-up and window."""
    points = len(set(job.batch_sizes)) * max(1, len(set(job.concurrency)))
    return points * (job.warmup_s + max(job.min_duration_s, 0.5))


@dataclass
class _Current:
    job: BenchmarkJob
    progress: Progress | None
    at: float  # when the progress (or the start) arrived, on the host's clock


class LiveProgress:
    """Follows the jobs of a run from their job states and results; :meth:`line` is the bar's text."""

    def __init__(self, jobs: Sequence[BenchmarkJob], clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.waiting: dict[str, BenchmarkJob] = {j.job_id: j for j in jobs}  # not started
        self.current: dict[str, _Current] = {}  # device id -> its running job
        self.started_at: dict[str, float] = {}
        self.durations: list[float] = []

    def add(self, job: BenchmarkJob) -> None:
        """A job issued during the run (a retry)."""
        self.waiting[job.job_id] = job

    def moved(self, job: BenchmarkJob, state: str, detail: str) -> None:
        """A job state arrived for ``job``."""
        now = self.clock()
        if state in ("downloading", "building", "running"):
            self.waiting.pop(job.job_id, None)
            self.started_at.setdefault(job.job_id, now)
            progress = parse_progress(detail) if state == "running" else None
            held = self.current.get(job.device_id)
            if progress is None and held is not None and held.job.job_id == job.job_id:
                progress = held.progress  # "running" without a phase keeps the last phase
            self.current[job.device_id] = _Current(job, progress, now)
        elif state in ("failed", "cancelled", "timed_out", "done"):
            self.ended(job)

    def ended(self, job: BenchmarkJob) -> None:
        """``job`` has its result (or ended without one)."""
        now = self.clock()
        self.waiting.pop(job.job_id, None)
        start = self.started_at.pop(job.job_id, None)
        if start is not None:
            self.durations.append(now - start)
        held = self.current.get(job.device_id)
        if held is not None and held.job.job_id == job.job_id:
            del self.current[job.device_id]

    def job_s(self, job: BenchmarkJob) -> tuple[float, str]:
        """Seconds one more job takes, and on what that rests."""
        if self.durations:
            return sum(self.durations) / len(self.durations), "measured rate"
        return planned_job_s(job), "planned windows"

    def eta(self) -> tuple[float, str] | None:
        """Seconds until the last device is done, and its basis; None with nothing left."""
        now = self.clock()
        per_device: dict[str, float] = {}
        basis = ""
        for device, held in self.current.items():
            if held.progress is not None and held.progress.eta_s is not None:
                left = max(0.0, held.progress.eta_s - (now - held.at))
            else:
                full, basis = self.job_s(held.job)
                left = max(0.0, full - (now - self.started_at.get(held.job.job_id, now)))
            per_device[device] = per_device.get(device, 0.0) + left
        for job in self.waiting.values():
            each, basis = self.job_s(job)
            per_device[job.device_id] = per_device.get(job.device_id, 0.0) + each
        if not per_device:
            return None
        return max(per_device.values()), basis or self.job_s(next(iter(self.current.values())).job)[1]

    def line(self) -> str:
        """``ort-fp32@dev: measuring · window 2 of 4 at batch 8 · ETA 1 min 5 s (measured rate)``."""
        parts = []
        for device, held in sorted(self.current.items()):
            phase = held.progress.detail().split(" · eta ")[0] if held.progress is not None else "starting"
            parts.append(f"{held.job.variant_id}@{device}: {phase}")
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {duration_text(eta[0])} ({eta[1]})")
        return "; ".join(parts)


class PlainProgressLog:
    """What a console that is not a terminal (a pipe, a log file, CI) gets in place of the live bar,
    which rich draws only on a terminal: the bar's line, printed when it has changed and at least
    ``every_s`` seconds after the last one, so a log shows motion without a line per phase."""

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last_at: float | None = None
        self._last_line = ""

    def due(self, line: str) -> str | None:
        """The line to print now, or None (unchanged, empty, or too soon after the last)."""
        now = self.clock()
        if not line or line == self._last_line:
            return None
        if self._last_at is not None and now - self._last_at < self.every_s:
            return None
        self._last_at, self._last_line = now, line
        return line


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``."""
    s = max(0, round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"
