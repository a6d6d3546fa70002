"""CPU time and memory of the worker process, and the CPU time everything else took, from ``/proc``.

Two questions the measurement must answer honestly (design.md, "Pitfalls"): how much CPU did *this*
worker use (the only load a CPU-load power estimate may count), and did other processes compete
for the CPUs it ran on (a benchmark beside a busy neighbour measures the neighbour too). Both come
from counters the kernel keeps, read at the edges of a window, so nothing runs during it:

    /proc/<pid>/stat   fields 14 and 15: utime and stime of the process, all threads (clock ticks)
    /proc/stat         cpuN lines: user nice system idle iowait irq softirq steal ... (USER_HZ ticks)
    /proc/<pid>/status VmRSS and VmHWM: resident set and its high-water mark (kB)

Foreign CPU time is the busy time of the CPUs in the worker's affinity mask minus the worker's own:
it counts every other process (and the kernel's interrupt work) on those CPUs, and nothing on CPUs
the worker could not use. The counters move in ticks of 10 ms, so short windows read coarsely.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Dict, Optional, Set, Union

from agent.errors import AgentError

#: /proc/stat counts in USER_HZ, which Linux fixes at 100 for user space whatever the kernel's HZ.
USER_HZ = 100.0


def clock_ticks_per_s() -> float:
    """The unit of /proc/<pid>/stat's utime and stime (``sysconf(SC_CLK_TCK)``, 100 on Linux)."""
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return USER_HZ


def usable_cpu_ids() -> Set[int]:
    """The CPUs this process may run on (its affinity mask); all online CPUs off Linux."""
    try:
        return set(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def process_cpu_s(pid: Union[int, str] = "self", proc_root: Path = Path("/proc")) -> float:
    """User plus system CPU seconds of process ``pid`` (all its threads) since it started."""
    path = Path(proc_root) / str(pid) / "stat"
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise AgentError("cannot read %s: %s" % (path, exc)) from exc
    # the command name (field 2) is in parentheses and may hold spaces: split after its last ")"
    fields = text[text.rfind(")") + 1 :].split()
    try:
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    except (IndexError, ValueError) as exc:
        raise AgentError("%s is not a process stat line: %r" % (path, text[:80])) from exc
    return (utime + stime) / clock_ticks_per_s()


def cpu_busy_s(proc_root: Path = Path("/proc"), cpus: Optional[Set[int]] = None) -> float:
    """Busy seconds (user + nice + system + irq + softirq; guest is inside user) summed over the
    ``cpuN`` lines of /proc/stat for the CPUs in ``cpus`` (all of them when None)."""
    path = Path(proc_root) / "stat"
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError as exc:
        raise AgentError("cannot read %s: %s" % (path, exc)) from exc
    busy = 0
    found = 0
    for line in lines:
        parts = line.split()
        if not parts or not parts[0].startswith("cpu") or not parts[0][3:].isdigit():
            continue
        if cpus is not None and int(parts[0][3:]) not in cpus:
            continue
        values = ([int(x) for x in parts[1:8]] + [0] * 7)[:7]
        user, nice, system, _idle, _iowait, irq, softirq = values
        busy += user + nice + system + irq + softirq
        found += 1
    if not found:
        raise AgentError("%s has no cpuN line for CPUs %s" % (path, sorted(cpus) if cpus else "any"))
    return busy / USER_HZ


@dataclasses.dataclass(frozen=True)
class CPUSnapshot:
    """The worker's CPU time and the busy time of the CPUs it may use, at one instant."""

    t_monotonic_s: float
    worker_cpu_s: float
    cpus_busy_s: float
    cpus: int


@dataclasses.dataclass(frozen=True)
class CPUShare:
    """Between two snapshots: the worker's CPU seconds, everyone else's on the same CPUs, and the
    latter as a share of the CPUs' capacity over the interval (0 = alone, 1 = all of it)."""

    interval_s: float
    cpus: int
    worker_cpu_s: float
    foreign_cpu_s: float

    @property
    def foreign_load(self) -> float:
        capacity = self.interval_s * self.cpus
        return self.foreign_cpu_s / capacity if capacity > 0 else 0.0


class CPUAccount:
    """Reads the worker's and its CPUs' counters; ``snapshot()`` at both edges, then ``between``."""

    def __init__(
        self,
        pid: Union[int, str] = "self",
        proc_root: Path = Path("/proc"),
        cpus: Optional[Set[int]] = None,
    ) -> None:
        self.pid = pid
        self.proc_root = Path(proc_root)
        self.cpus = set(cpus) if cpus is not None else usable_cpu_ids()

    def snapshot(self) -> CPUSnapshot:
        return CPUSnapshot(
            t_monotonic_s=time.monotonic(),
            worker_cpu_s=process_cpu_s(self.pid, self.proc_root),
            cpus_busy_s=cpu_busy_s(self.proc_root, self.cpus),
            cpus=len(self.cpus),
        )

    @staticmethod
    def between(before: CPUSnapshot, after: CPUSnapshot) -> CPUShare:
        worker = max(0.0, after.worker_cpu_s - before.worker_cpu_s)
        busy = max(0.0, after.cpus_busy_s - before.cpus_busy_s)
        return CPUShare(
            interval_s=max(0.0, after.t_monotonic_s - before.t_monotonic_s),
            cpus=after.cpus,
            worker_cpu_s=worker,
            # the two counters tick independently: a few ticks of the worker may land "after" the
            # CPUs' reading, so the difference is clamped at zero
            foreign_cpu_s=max(0.0, busy - worker),
        )


def memory_use_mib(pid: Union[int, str] = "self", proc_root: Path = Path("/proc")) -> Dict[str, float]:
    """``{"rss_mib": ..., "peak_rss_mib": ...}`` from /proc/<pid>/status (VmRSS, VmHWM); {} when the
    file or the lines are missing (not Linux)."""
    path = Path(proc_root) / str(pid) / "status"
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return {}
    out: Dict[str, float] = {}
    for line in lines:
        key, _, value = line.partition(":")
        parts = value.split()
        if key in ("VmRSS", "VmHWM") and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out["rss_mib" if key == "VmRSS" else "peak_rss_mib"] = int(parts[0]) / 1024.0
    return out
