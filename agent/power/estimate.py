"""An estimate of power from the worker's own CPU time, for machines without a sensor. It says so.

Model::

    energy_j(t) = watts_per_busy_core × (CPU seconds of the worker since the sensor opened)
                  [+ idle_w × (seconds since the sensor opened), where an idle figure is known]

The CPU seconds are the worker process's own (``/proc/<pid>/stat`` utime + stime, every thread),
never the whole machine's: reading ``/proc/stat``, another busy process on the device would count
as the model's energy (seen: it halved the inferences per joule). The reading is a cumulative
counter, so the sampler differences it over the window like RAPL's, and gaps between reads cost
nothing but edge resolution.

``watts_per_busy_core`` comes from the target profile where it has one, else from the table of CPU
models in :mod:`agent.power.cpu_models` (``/proc/cpuinfo``), else a generic figure for the
architecture, which ``method`` calls a generic assumption. ``idle_w`` is the device's idle power when
it is known (a target profile's ``idle_power``); without it the figure is power *above idle* only
(``reads_above_idle``), and the gross figures are unknown rather than wrong.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Union

from agent.errors import AgentError, SensorError
from agent.power.base import PowerSample, PowerSensor
from agent.power.cpu_models import core_watts, cpu_model_name
from agent.proc_stats import process_cpu_s


class CPULoadEstimate(PowerSensor):
    """Estimated power from the worker's CPU time; ``estimated`` is True."""

    name = "estimate"
    source = "estimate:cpu-load"
    estimated = True
    #: utime/stime move in 10 ms ticks: at 10 Hz each read spans ten of them per busy CPU
    nominal_rate_hz = 10.0

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        watts_per_busy_core: Optional[float] = None,
        idle_w: Optional[float] = None,
        basis: Optional[str] = None,
        idle_basis: Optional[str] = None,
        pid: Union[int, str] = "self",
        machine: Optional[str] = None,
    ) -> None:
        if (watts_per_busy_core is not None and watts_per_busy_core <= 0) or (idle_w is not None and idle_w < 0):
            raise ValueError("watts_per_busy_core must be > 0 and idle_w >= 0")
        self.proc_root = Path(proc_root)
        self.pid = pid
        self.cpu_model = cpu_model_name(self.proc_root)
        self.generic = False
        if watts_per_busy_core is None:
            figure = core_watts(self.cpu_model, machine)
            watts_per_busy_core, self.generic = figure.watts_per_busy_core, figure.generic
            basis = basis or figure.basis
        self.watts_per_busy_core = float(watts_per_busy_core)
        self.basis = basis or "given by the caller"
        self.idle_w = None if idle_w is None else float(idle_w)
        self.idle_basis = idle_basis or ("given by the caller" if idle_w is not None else "")
        self.reads_above_idle = self.idle_w is None
        self._t0 = time.monotonic()
        self._cpu0 = self._cpu_s()
        idle_text = (
            "no idle figure for this device, so only the power above idle is known"
            if self.idle_w is None
            else "plus %.3g W idle power (%s)" % (self.idle_w, self.idle_basis)
        )
        self.method = (
            "estimate, not a measurement: the worker's own CPU time (/proc/%s/stat utime + stime) × %.3g W "
            "per busy core (%s)%s; %s"
            % (
                self.pid,
                self.watts_per_busy_core,
                self.basis,
                "; the figure rests on a generic assumption" if self.generic else "",
                idle_text,
            )
        )

    @classmethod
    def create(cls, sysfs_root: Path, proc_root: Path) -> CPULoadEstimate:
        return cls(proc_root=proc_root)

    def _cpu_s(self) -> float:
        try:
            return process_cpu_s(self.pid, self.proc_root)
        except AgentError as exc:
            raise SensorError(str(exc)) from exc

    def read(self) -> PowerSample:
        t = time.monotonic()
        energy_j = self.watts_per_busy_core * (self._cpu_s() - self._cpu0)
        if self.idle_w is not None:
            energy_j += self.idle_w * (t - self._t0)
        return PowerSample(t_monotonic_s=t, energy_j=energy_j)
