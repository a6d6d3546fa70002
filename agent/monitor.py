"""Monitor mode: how busy a device is under its real production load, before anyone buys hardware.

``edgeprof-agent monitor --duration 10m [--pid PID]`` samples, every ``--interval``:

- CPU busy fraction: of the whole machine from ``/proc/stat`` (busy ticks over all CPUs' capacity),
  or with ``--pid`` the process's own CPU time from ``/proc/PID/stat`` over wall time (1 = one CPU
  the whole time; a process on several cores is capped at 1 and ``cores_used`` says how many);
- memory used (``/proc/meminfo`` MemTotal − MemAvailable, or the process's VmRSS with ``--pid``);
- GPU utilisation, memory and clocks where NVML (or a Jetson's devfreq) has them, and CPU clocks from
  cpufreq, through :mod:`agent.conditions`;
- power through the agent's power-source registry (:mod:`agent.power`): a real sensor only; the
  CPU-load estimate counts the measuring process's own CPU time, which says nothing of the load here.

The summary's ``utilisation`` (the busy fraction, 0..1) is what the host's cost model reads
(``edgeprof report --monitor-summary FILE``, :func:`pipeline.cost.load_utilisation_summary`), with
``window_s``, ``source`` and ``samples`` beside it.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from agent import conditions
from agent.errors import AgentError, SensorError
from agent.proc_stats import USER_HZ, memory_use_mib, process_cpu_s

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}
#: Condition keys summarised as clocks and GPU figures (the rest, temperatures and trip points, too).
_SUMMARISED = ("cpu_mhz:", "devfreq_mhz:", "gpu_", "emc_mhz", "temp_c:")


def parse_duration(text: str, flag: str = "--duration") -> float:
    """Seconds in ``10m``, ``30s``, ``1.5h``, ``500ms`` or a plain number of seconds."""
    match = _DURATION.match(str(text))
    if match is None:
        raise AgentError("%s %r: give a duration like 30s, 10m, 1h or 500ms" % (flag, text))
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise AgentError("%s %r: the duration must be more than zero" % (flag, text))
    return seconds


def machine_cpu_ticks(proc_root: Path = Path("/proc")) -> Dict[str, float]:
    """Busy and total seconds of the aggregate ``cpu`` line of /proc/stat, and the number of CPUs."""
    path = Path(proc_root) / "stat"
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError as exc:
        raise AgentError("cannot read %s: %s" % (path, exc)) from exc
    total_line = next((line.split() for line in lines if line.startswith("cpu ")), None)
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    if total_line is None or not cpus:
        raise AgentError("%s has no cpu line: not a Linux /proc" % path)
    values = ([int(x) for x in total_line[1:9]] + [0] * 8)[:8]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return {"busy_s": busy / USER_HZ, "total_s": (busy + idle + iowait) / USER_HZ, "cpus": float(cpus)}


def machine_memory_mib(proc_root: Path = Path("/proc")) -> Dict[str, float]:
    """MemTotal and MemTotal − MemAvailable from /proc/meminfo, in MiB."""
    out: Dict[str, float] = {}
    try:
        for line in (Path(proc_root) / "meminfo").read_text(encoding="ascii").splitlines():
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                out[key] = float(rest.split()[0]) / 1024.0
    except (OSError, ValueError, IndexError):
        return {}
    if "MemTotal" not in out or "MemAvailable" not in out:
        return {}
    return {"total_mib": out["MemTotal"], "used_mib": out["MemTotal"] - out["MemAvailable"]}


def _stats(values: List[float]) -> Dict[str, float]:
    return {"mean": statistics.mean(values), "min": min(values), "max": max(values)}


class Monitor:
    """Samples the device (or one process) every ``interval_s`` for ``duration_s``; :meth:`run` returns
    the summary. ``clock`` and ``sleep`` are there for tests; the counters are always real files."""

    def __init__(
        self,
        duration_s: float,
        interval_s: float = 1.0,
        pid: Optional[int] = None,
        power: Optional[str] = None,
        proc_root: Path = Path("/proc"),
        sysfs_root: Path = Path("/sys"),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval_s <= 0 or interval_s > duration_s:
            raise AgentError(
                "--interval %gs must be more than zero and at most --duration (%gs)" % (interval_s, duration_s)
            )
        self.duration_s, self.interval_s, self.pid = duration_s, interval_s, pid
        self.power, self.proc_root, self.sysfs_root = power, Path(proc_root), Path(sysfs_root)
        self.clock, self.sleep = clock, sleep
        if pid is not None:
            self._cpu_s(pid)  # a pid that is not there fails now, naming it

    def _cpu_s(self, pid: int) -> float:
        try:
            return process_cpu_s(pid, self.proc_root)
        except AgentError:
            raise AgentError(
                "--pid %d: no such process (or /proc/%d/stat is unreadable); give the id of the running "
                "service (`pgrep -f NAME`)" % (pid, pid)
            ) from None

    def run(self) -> Dict[str, Any]:
        sampler, power_note = self._open_power()
        busy: List[float] = []
        memory: List[float] = []
        readings: Dict[str, List[float]] = {}
        cpus = machine_cpu_ticks(self.proc_root)["cpus"]
        start = self.clock()
        prev_t, prev = start, self._counters()
        cpu_total = capacity = 0.0
        gone = ""
        try:
            while prev_t - start < self.duration_s - 1e-9:
                self.sleep(max(0.0, min(self.interval_s, start + self.duration_s - prev_t)))
                t = self.clock()
                try:
                    now = self._counters()
                except AgentError as exc:  # the process ended: summarise what was seen
                    gone = str(exc)
                    break
                dt = t - prev_t
                if dt > 0:
                    busy.append(self._busy(prev, now, dt))
                    cpu_total += now["cpu_s"] - prev["cpu_s"]
                    capacity += now.get("total_s", 0.0) - prev.get("total_s", 0.0)
                memory.append(now["memory_mib"])
                for key, value in conditions.snapshot(self.sysfs_root).items():
                    if key.startswith(_SUMMARISED):
                        readings.setdefault(key, []).append(value)
                prev_t, prev = t, now
        finally:
            end = prev_t
            power = self._power_summary(sampler, start, end, power_note)
        if not busy:
            raise AgentError("no sample was taken: %s" % (gone or "--duration is shorter than one --interval"))
        window_s = end - start
        # a process: its CPU seconds per second (capped at one CPU); the machine: busy over all CPUs' ticks
        # (the machine's ratio is capped too: busy and total seconds are sums of floats, 1.0000000000003 was seen)
        utilisation = min(1.0, cpu_total / window_s if self.pid is not None else cpu_total / max(capacity, 1e-9))
        source = (
            "/proc/%d/stat: the process's CPU time over wall time (1 = one CPU the whole time)" % self.pid
            if self.pid is not None
            else "/proc/stat: busy ticks over the capacity of all %d CPUs" % cpus
        )
        summary: Dict[str, Any] = {
            "utilisation": utilisation,
            "window_s": window_s,
            "source": source,
            "samples": len(busy),
            "interval_s": self.interval_s,
            "pid": self.pid,
            "cpu": {
                "busy_fraction": _stats(busy),
                "cpus": int(cpus),
                "cores_used": cpu_total / window_s if window_s > 0 else 0.0,
            },
            "memory": dict(
                _stats(memory),
                unit="MiB",
                what="VmRSS of the process" if self.pid is not None else "MemTotal - MemAvailable",
            ),
            "gpu": {k: _stats(v) for k, v in sorted(readings.items()) if k.startswith(("gpu_", "emc_"))},
            "clocks": {k: _stats(v) for k, v in sorted(readings.items()) if k.startswith(("cpu_mhz:", "devfreq_mhz:"))},
            "temperatures": {k: _stats(v) for k, v in sorted(readings.items()) if k.startswith("temp_c:")},
            "power": power,
            "notes": [gone] if gone else [],
        }
        if self.pid is not None and summary["cpu"]["cores_used"] > 1.0:
            summary["notes"].append(
                "the process used %.2f cores on average: utilisation is capped at 1 (busy the whole time)"
                % summary["cpu"]["cores_used"]
            )
        return summary

    def _counters(self) -> Dict[str, float]:
        if self.pid is not None:
            rss = memory_use_mib(self.pid, self.proc_root).get("rss_mib")
            return {"cpu_s": self._cpu_s(self.pid), "memory_mib": float(rss or 0.0)}
        ticks = machine_cpu_ticks(self.proc_root)
        return {
            "cpu_s": ticks["busy_s"],
            "total_s": ticks["total_s"],
            "memory_mib": machine_memory_mib(self.proc_root).get("used_mib", 0.0),
        }

    def _busy(self, before: Dict[str, float], after: Dict[str, float], dt: float) -> float:
        used = after["cpu_s"] - before["cpu_s"]
        if self.pid is not None:
            return min(1.0, used / dt)
        capacity = after["total_s"] - before["total_s"]
        return min(1.0, used / capacity) if capacity > 0 else 0.0

    def _open_power(self) -> Any:
        """A running sampler on the best real power sensor, or None and why not."""
        from agent.power import FALLBACK, discover
        from agent.power.sampler import PowerSampler

        try:
            sensor = discover(self.sysfs_root, self.proc_root, prefer=self.power)
        except SensorError as exc:
            return None, str(exc)
        if sensor.name == FALLBACK:
            sensor.close()
            return None, (
                "no power sensor here (the CPU-load estimate counts the measuring process's own CPU time, "
                "not the load being monitored)"
            )
        return PowerSampler(sensor, history_s=self.duration_s + 10.0).start(), ""

    def _power_summary(self, sampler: Any, t0: float, t1: float, note: str) -> Dict[str, Any]:
        if sampler is None:
            return {"source": None, "avg_w": None, "note": note}
        try:
            report = sampler.window(t0, t1)
            return {
                "source": report.source,
                "avg_w": report.avg_w,
                "energy_j": report.energy_j,
                "samples": report.samples,
                "rate_hz": report.rate_hz,
                "estimated": report.estimated,
            }
        except SensorError as exc:
            return {"source": sampler.sensor.source, "avg_w": None, "note": "power not summarised: %s" % exc}
        finally:
            sampler.stop()
            sampler.sensor.close()


def write_summary(summary: Dict[str, Any], out: Optional[Path]) -> str:
    """The summary as JSON, written atomically to ``out`` when given; returns the text."""
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    if out is not None:
        out = Path(out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(str(tmp), str(out))
    return text
