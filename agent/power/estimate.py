"""An estimate of power from CPU load, for machines without a sensor. It is labelled as one.

Model::

    power_w = idle_w + (average number of busy CPUs) × watts_per_busy_core

The average number of busy CPUs comes from ``/proc/stat``: between two reads, the busy share of the
aggregate ``cpu`` line's ticks (user + nice + system + irq + softirq, over those plus idle, iowait and
steal) times the number of online CPUs (the ``cpuN`` lines). Guest time is already inside user and
nice. Each read covers the interval since the previous one.

``watts_per_busy_core`` defaults to ``DEFAULT_WATTS_PER_BUSY_CORE``; a target profile should pass its
own. ``idle_w`` defaults to 0, and then the figure is power *above idle*, which ``method`` says.
Nothing here is a measurement: ``estimated`` is True and the harness and reports show it as such.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor

#: Watts one fully busy core adds above idle. Basis: a Raspberry Pi 4 Model B (4 × Cortex-A72 at
#: 1.5 GHz) draws 2.7 W idle and 6.4 W under ``stress --cpu 4`` (540 mA and 1280 mA at 5 V, Jeff
#: Geerling's pidramble.com power-consumption benchmarks): (6.4 - 2.7) / 4 ≈ 0.925 W per busy core. A
#: small-ARM figure, because this fallback serves edge boards without sensors; a desktop or server x86
#: core draws several times more, so pass the target's own figure where the profile has one.
DEFAULT_WATTS_PER_BUSY_CORE = 0.925
DEFAULT_BASIS = "Raspberry Pi 4 B: (6.4 W under stress --cpu 4 - 2.7 W idle) / 4 cores"

#: What discovery uses on an x86-64 host without sensors or a profile figure: a server core's share
#: of its package TDP (AMD EPYC 9654: 360 W TDP over 96 cores). Coarse, and labelled as such.
X86_64_WATTS_PER_BUSY_CORE = 3.75
X86_64_BASIS = "AMD EPYC 9654: 360 W TDP / 96 cores, a TDP share"
_ARCH_DEFAULTS = {
    "x86_64": (X86_64_WATTS_PER_BUSY_CORE, X86_64_BASIS),
    "amd64": (X86_64_WATTS_PER_BUSY_CORE, X86_64_BASIS),
}


def defaults_for_machine(machine: Optional[str] = None) -> Dict[str, Any]:
    """Constructor arguments that fit this CPU architecture (``platform.machine()``)."""
    arch = (machine if machine is not None else platform.machine()).lower()
    watts, basis = _ARCH_DEFAULTS.get(arch, (DEFAULT_WATTS_PER_BUSY_CORE, DEFAULT_BASIS))
    return {"watts_per_busy_core": watts, "basis": basis}


def read_proc_stat(proc_root: Path) -> Tuple[int, int, int]:
    """(busy ticks, total ticks, online CPUs) from ``<proc_root>/stat``."""
    path = proc_root / "stat"
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise SensorError("cannot read %s: %s" % (path, exc)) from exc
    aggregate: Optional[List[int]] = None
    cpus = 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            aggregate = [int(x) for x in parts[1:]]
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            cpus += 1
    if aggregate is None or len(aggregate) < 4 or cpus == 0:
        raise SensorError("%s has no aggregate 'cpu' line or no 'cpuN' lines" % path)
    fields = (aggregate + [0] * 8)[:8]  # user nice system idle iowait irq softirq steal
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq
    total = busy + idle + iowait + steal
    return busy, total, cpus


class CPULoadEstimate(PowerSensor):
    """Estimated power from /proc/stat CPU load; ``estimated`` is True."""

    name = "estimate"
    source = "estimate:cpu-load"
    estimated = True
    #: /proc/stat counts in USER_HZ ticks (100 per second per CPU): at 10 Hz each read spans ten.
    nominal_rate_hz = 10.0

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        watts_per_busy_core: float = DEFAULT_WATTS_PER_BUSY_CORE,
        idle_w: float = 0.0,
        basis: Optional[str] = None,
    ) -> None:
        if watts_per_busy_core <= 0 or idle_w < 0:
            raise ValueError("watts_per_busy_core must be > 0 and idle_w >= 0")
        self.proc_root = Path(proc_root)
        self.watts_per_busy_core = float(watts_per_busy_core)
        self.idle_w = float(idle_w)
        if basis is None:
            basis = DEFAULT_BASIS if watts_per_busy_core == DEFAULT_WATTS_PER_BUSY_CORE else "given by the caller"
        self._last = read_proc_stat(self.proc_root)
        self.cores = self._last[2]
        # Before two reads exist, the since-boot load stands in.
        self._last_w = self._power_w(self._last[0], self._last[1], self.cores)
        idle_text = (
            "idle power assumed 0 W, so the figure is power above idle only"
            if self.idle_w == 0
            else "plus %.3g W assumed idle power" % self.idle_w
        )
        self.method = (
            "estimate, not a measurement: average busy CPUs from /proc/stat (%d online) × %.3g W assumed "
            "per busy core (%s); %s" % (self.cores, self.watts_per_busy_core, basis, idle_text)
        )

    @classmethod
    def create(cls, sysfs_root: Path, proc_root: Path) -> CPULoadEstimate:
        return cls(proc_root=proc_root, **defaults_for_machine())

    def _power_w(self, d_busy: int, d_total: int, cpus: int) -> float:
        busy_cpus = cpus * d_busy / d_total if d_total > 0 else 0.0
        return self.idle_w + busy_cpus * self.watts_per_busy_core

    def read(self) -> PowerSample:
        t = time.monotonic()
        busy, total, cpus = read_proc_stat(self.proc_root)
        d_busy, d_total = busy - self._last[0], total - self._last[1]
        if d_total > 0:  # no tick since the last read: keep the last figure rather than invent one
            self._last_w = self._power_w(d_busy, d_total, cpus)
            self._last = (busy, total, cpus)
        return PowerSample(t_monotonic_s=t, power_w=self._last_w)
