"""Collect: wait for the results of the run's jobs, showing progress and devices coming and going.

Results are stored by the MQTT host as they arrive (before they are acknowledged); this stage only
waits, reports each one, and says which jobs never answered when the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from agent.protocol import BenchmarkJob, BenchmarkResult
from pipeline.dispatch.base import Dispatcher
from pipeline.progress import progress_bar


@dataclass(frozen=True)
class Collected:
    results: tuple[BenchmarkResult, ...]
    pending: tuple[BenchmarkJob, ...]  # jobs without a result when collection stopped

    @property
    def complete(self) -> bool:
        return not self.pending


def collect(dispatcher: Dispatcher, jobs: Sequence[BenchmarkJob], deadline_s: float, console: Console) -> Collected:
    """Wait until every job has a result or ``deadline_s`` passes."""
    pending = {j.job_id: j for j in jobs}
    received: list[BenchmarkResult] = []
    deadline = time.monotonic() + deadline_s
    online = dict.fromkeys({j.device_id for j in jobs}, True)
    with progress_bar(console) as progress:
        task = progress.add_task("measuring on device(s)", total=len(jobs))
        while pending and time.monotonic() <= deadline:
            _report_presence(dispatcher, online, progress.console)
            result = dispatcher.receive(timeout_s=0.5)
            if result is None:
                continue
            job = pending.pop(result.job_id, None)
            if job is None:
                continue  # a late result of an earlier run: stored, not waited for
            received.append(result)
            mark = "[green]ok[/green]" if result.status == "ok" else f"[red]failed[/red]: {escape(result.error)}"
            progress.console.print(f"  {escape(result.variant_id)} on {escape(result.device_id)}: {mark}")
            progress.advance(task)
    return Collected(tuple(received), tuple(pending.values()))


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
