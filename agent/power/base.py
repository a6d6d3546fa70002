"""The power-sensor seam: every sensor is one file in this package implementing ``PowerSensor``.

A sensor reports either instantaneous power (INA3221, NVML, jtop, estimates) or a cumulative energy
counter (RAPL, NVML total energy); ``PowerSample`` has room for both and the sampler integrates
whichever is present over the measured window. Units are in the field names.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, Optional


@dataclasses.dataclass(frozen=True)
class PowerSample:
    """One reading, timestamped on ``time.monotonic()``."""

    t_monotonic_s: float
    power_w: Optional[float] = None  # the total this sensor stands for (board input, package, GPU)
    energy_j: Optional[float] = None  # cumulative counter, wraps already unfolded by the sensor
    rails_w: Dict[str, float] = dataclasses.field(default_factory=dict)  # every rail under its own label
    # per-rail cumulative counters (RAPL subdomains, one NVML GPU each), wraps unfolded like energy_j
    rails_energy_j: Dict[str, float] = dataclasses.field(default_factory=dict)


class PowerSensor:
    """Base class for a power source.

    Attributes a subclass sets:
      ``name``           short id used in the registry ("ina3221", "rapl", "nvml", "jtop", "estimate")
      ``source``         provenance string shown to users, e.g. "ina3221:VDD_IN" or "rapl:package-0"
      ``estimated``      True when the figure is not a measurement
      ``nominal_rate_hz`` how often reading makes sense (the sensor's own update rate)
      ``method``         one sentence on how the figure is obtained
      ``min_window_s``   shortest window whose figure is valid, beyond the sampler's own rule of five
                         sensor periods (an energy counter that updates every 100 ms needs more)
      ``lag_s``          how long after the instant a reading stands for it becomes readable (an
                         average over the last second is stamped half a second back, and the
                         sampler waits that much longer for the reading that closes a window)
      ``timestamp_uncertainty_s``  how far a reading's time may be off the instant it stands for;
                         the window's energy uncertainty is derived from it
      ``reads_above_idle``  True when the readings are power above idle only (an estimate without
                         an idle figure): the gross figures are then unknown
    """

    name = "base"
    source = "base"
    estimated = False
    nominal_rate_hz = 10.0
    method = ""
    min_window_s = 0.0
    lag_s = 0.0
    timestamp_uncertainty_s = 0.0
    reads_above_idle = False

    @classmethod
    def create(cls, sysfs_root: Path, proc_root: Path) -> PowerSensor:
        """Build this sensor for the machine whose ``/sys`` and ``/proc`` are given (the registry's
        uniform constructor; tests pass fake trees). Raises ``SensorError`` when it is absent."""
        return cls()

    def read(self) -> PowerSample:
        raise NotImplementedError

    def close(self) -> None:
        """Release handles; the default has none."""

    def __enter__(self) -> PowerSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
