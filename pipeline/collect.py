"""Collect: wait for the results of the run's jobs, showing progress and devices coming and going.

Results are stored by the MQTT host as they arrive (before they are acknowledged); this stage waits,
reports each one, and follows each job's state. A job its device refused or failed without a result
ends at once with the device's reason (a key mistake shows now, not at the deadline). A job past its
deadline on the host is marked ``timed_out`` and, where the dispatcher has an equivalent device (a
fleet of one profile), retried there; a late result of the first try is still stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from agent.protocol import BenchmarkJob, BenchmarkResult
from pipeline.dispatch.base import Dispatcher
from pipeline.live_progress import LiveProgress, PlainProgressLog
from pipeline.progress import progress_bar

#: Seconds the host waits past a job's own deadline before it calls the job timed out (the result
#: has to cross the broker, and the device's clock may be a little behind).
DEADLINE_GRACE_S = 30.0
_STARTED = ("downloading", "building", "running")


@dataclass(frozen=True)
class Ended:
    """A job that ended without a result: its state (failed, timed_out, cancelled) and why."""

    job: BenchmarkJob
    state: str
    reason: str
    retried_as: str = ""  # the job id of its retry on another device, if any


@dataclass(frozen=True)
class Collected:
    results: tuple[BenchmarkResult, ...]
    pending: tuple[BenchmarkJob, ...]  # jobs without a result when collection stopped
    ended: tuple[Ended, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def unanswered(self) -> tuple[Ended, ...]:
        """Jobs that ended without a result and were not retried."""
        return tuple(e for e in self.ended if not e.retried_as)


def host_deadline(job: BenchmarkJob, started_at: float | None, grace_s: float = DEADLINE_GRACE_S) -> float:
    """Unix time after which the host gives up on ``job``: its expiry when it never started (the
    device would refuse to start it later), else its start plus its own deadline."""
    if started_at is None:
        return job.expires_at + grace_s
    return started_at + job.deadline_s + grace_s


def collect(
    dispatcher: Dispatcher,
    jobs: Sequence[BenchmarkJob],
    deadline_s: float,
    console: Console,
    retry: Callable[[BenchmarkJob, str], BenchmarkJob] | None = None,
    grace_s: float = DEADLINE_GRACE_S,
) -> Collected:
    """Wait until every job has a result or has ended, or ``deadline_s`` passes.

    ``retry(job, device_id)`` issues a copy of ``job`` for another device (signed, recorded, sent)."""
    pending = {j.job_id: j for j in jobs}
    started: dict[str, float] = {}
    tried: dict[str, list[str]] = {}  # variant id -> devices that had it
    for j in jobs:
        tried.setdefault(j.variant_id, []).append(j.device_id)
    received: list[BenchmarkResult] = []
    ended: list[Ended] = []
    deadline = time.monotonic() + deadline_s
    online = dict.fromkeys({j.device_id for j in jobs}, True)
    total = len(jobs)
    live = LiveProgress(jobs)
    plain = None if console.is_terminal else PlainProgressLog()  # rich draws the bar on a terminal only
    with progress_bar(console) as progress:
        task = progress.add_task("measuring on device(s)", total=total)
        out = progress.console
        while pending and time.monotonic() <= deadline:
            _report_presence(dispatcher, online, out)
            for event in dispatcher.job_events():
                job = pending.get(event.job_id)
                if job is None:
                    continue
                live.moved(job, event.state, event.detail)
                if event.state in _STARTED:
                    started.setdefault(job.job_id, time.time())
                elif event.state in ("failed", "cancelled"):
                    # a result may still follow (it is stored); this job no longer holds the run up
                    del pending[job.job_id]
                    ended.append(Ended(job, event.state, event.detail))
                    out.print(f"  {escape(job.variant_id)} on {escape(job.device_id)}: [red]{event.state}[/red]: "
                              f"{escape(event.detail)}")  # fmt: skip
                    progress.advance(task)
            for job in [j for j in pending.values() if time.time() > host_deadline(j, started.get(j.job_id), grace_s)]:
                del pending[job.job_id]
                live.ended(job)
                reason = f"no result within its deadline ({job.deadline_s:.0f} s, plus {grace_s:.0f} s grace)"
                dispatcher.host.db.set_job_state(job.job_id, job.device_id, "timed_out", reason)
                other = dispatcher.retry_device(job, tried[job.variant_id]) if retry is not None else None
                again = retry(job, other) if retry is not None and other is not None else None
                ended.append(Ended(job, "timed_out", reason, again.job_id if again else ""))
                note = f"; retrying on {escape(again.device_id)}" if again else ""
                out.print(f"  {escape(job.variant_id)} on {escape(job.device_id)}: [red]timed out[/red]{note}")
                if again is not None:
                    pending[again.job_id] = again
                    live.add(again)
                    # the retry gets its own full time, even past the run's first estimate
                    own = host_deadline(again, None, grace_s) - time.time() + again.deadline_s
                    deadline = max(deadline, time.monotonic() + own)
                    tried[job.variant_id].append(again.device_id)
                    online.setdefault(again.device_id, True)
                    total += 1
                    progress.update(task, total=total)
                progress.advance(task)
            progress.update(task, description=escape(_description(live)))
            if plain is not None and (line := plain.due(live.line())) is not None:
                done = next(int(t.completed) for t in progress.tasks if t.id == task)
                out.print(f"  [{done}/{total} jobs] {escape(line)}")
            result = dispatcher.receive(timeout_s=0.5)
            if result is None:
                continue
            job = pending.pop(result.job_id, None)
            if job is None:
                continue  # a late result of an earlier run or try: stored, not waited for
            live.ended(job)
            received.append(result)
            mark = "[green]ok[/green]" if result.status == "ok" else f"[red]failed[/red]: {escape(result.error)}"
            out.print(f"  {escape(result.variant_id)} on {escape(result.device_id)}: {mark}")
            progress.advance(task)
    return Collected(tuple(received), tuple(pending.values()), tuple(ended))


def _description(live: LiveProgress) -> str:
    line = live.line()
    return "measuring on device(s)" + (f" · {line}" if line else "")


def _report_presence(dispatcher: Dispatcher, online: dict[str, bool], console: Console) -> None:
    now = dispatcher.online()
    for device, was in online.items():
        is_online = now.get(device, False)
        if is_online == was:
            continue
        online[device] = is_online
        console.print(
            f"  [yellow]{escape(device)} went offline[/yellow]: its jobs stay queued on it and its "
            "results in its outbox; waiting for it to come back (Ctrl-C keeps what has arrived)"
            if not is_online
            else f"  {escape(device)} is back online"
        )
