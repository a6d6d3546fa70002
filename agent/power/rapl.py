"""Intel/AMD RAPL energy counters through the Linux powercap interface.

Layout (``/sys/class/powercap`` holds links to every zone, flat)::

    intel-rapl:<P>/          a top-level zone: name "package-<P>" (or "psys" on some client parts)
        name                 "package-0", "psys", ...
        energy_uj            cumulative energy, µJ; wraps to 0 past max_energy_range_uj
        max_energy_range_uj  the counter's range
    intel-rapl:<P>:<S>/      a subzone of package P: name "core", "uncore" or "dram"

The counters are cumulative and wrap (every few minutes at a few tens of watts), so each zone's wraps
are counted between reads and unfolded: the sensor must be read at least once per wrap period, which
the sampler's 10 Hz does with a wide margin. ``PowerSample.energy_j`` is the sum of the package zones
(CPU cores, caches, memory controller; DRAM has its own subzone on servers and is not in the package
figure); every zone, packages included, is also kept under its own label in ``rails_energy_j``.
``intel-rapl-mmio:*`` zones duplicate the package counter through another interface and are skipped.
Since Linux 5.10 ``energy_uj`` is readable only by root (CVE-2020-8694).
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor

_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


@dataclasses.dataclass
class RAPLZone:
    """One powercap zone and its wrap-unfolding state."""

    label: str  # "package-0", or "package-0:dram" for a subzone
    path: Path
    max_energy_range_uj: int
    is_package: bool
    last_raw_uj: Optional[int] = None
    wraps: int = 0

    def read_energy_j(self) -> float:
        """Cumulative energy with wraps unfolded: each time the counter goes backwards it has wrapped
        once, and ``max_energy_range_uj`` is added from then on."""
        raw = _read_int(self.path / "energy_uj")
        if self.last_raw_uj is not None and raw < self.last_raw_uj:
            self.wraps += 1
        self.last_raw_uj = raw
        return (self.wraps * self.max_energy_range_uj + raw) / 1e6


def _read_int(path: Path) -> int:
    with open(path, encoding="ascii") as f:
        text = f.read().strip()
    try:
        return int(text)
    except ValueError:
        raise SensorError("%s holds %r, not an integer" % (path, text)) from None


def find_zones(sysfs_root: Path) -> List[RAPLZone]:
    """Every RAPL zone under ``<sysfs_root>/class/powercap``, packages before their subzones."""
    base = sysfs_root / "class" / "powercap"
    try:
        entries = os.listdir(str(base))
    except OSError:
        return []
    found: List[Tuple[Tuple[int, int], str, Path, bool]] = []
    names: Dict[int, str] = {}
    for entry in entries:
        m = _ZONE.match(entry)
        if not m:
            continue
        path = base / entry
        if not (path / "energy_uj").exists():
            continue
        with open(path / "name", encoding="ascii") as f:
            name = f.read().strip()
        package, sub = int(m.group(1)), m.group(2)
        if sub is None:
            names[package] = name
            found.append(((package, -1), name, path, True))
        else:
            found.append(((package, int(sub)), name, path, False))
    zones = []
    for key, name, path, top in sorted(found, key=lambda z: z[0]):
        label = name if top else "%s:%s" % (names.get(key[0], "intel-rapl:%d" % key[0]), name)
        zones.append(
            RAPLZone(
                label=label,
                path=path,
                max_energy_range_uj=_read_int(path / "max_energy_range_uj"),
                is_package=top and name.startswith("package"),
            )
        )
    return zones


class RAPLSensor(PowerSensor):
    """CPU package energy from RAPL counters; ``energy_j`` sums the packages, wraps unfolded."""

    name = "rapl"
    nominal_rate_hz = 10.0

    def __init__(self, sysfs_root: Path = Path("/sys")) -> None:
        self.sysfs_root = Path(sysfs_root)
        try:
            zones = find_zones(self.sysfs_root)
        except OSError as exc:
            raise SensorError("cannot read the RAPL zones under %s: %s" % (self.sysfs_root, exc)) from exc
        if not zones:
            raise SensorError(
                "no RAPL zones under %s/class/powercap (not an Intel/AMD CPU, a virtual machine, or the "
                "intel_rapl_common module is not loaded)" % self.sysfs_root
            )
        packages = [z for z in zones if z.is_package]
        if not packages:
            raise SensorError(
                "RAPL has zones (%s) but no package zone to stand for the CPU" % ", ".join(z.label for z in zones)
            )
        self.zones: Tuple[RAPLZone, ...] = tuple(zones)
        self._packages = tuple(packages)
        self.source = "rapl:%s" % "+".join(z.label for z in packages)
        others = [z.label for z in zones if not z.is_package]
        self.method = (
            "RAPL energy counters (powercap energy_uj) of %s, differenced over the window with counter "
            "wraps unfolded; CPU package only, not DRAM, GPU or the rest of the board%s"
            % (" + ".join(z.label for z in packages), "; also kept: %s" % ", ".join(others) if others else "")
        )
        self.read()  # fail here, not in the sampler thread, when the counters are unreadable

    @classmethod
    def create(cls, sysfs_root: Path, proc_root: Path) -> RAPLSensor:
        return cls(sysfs_root=sysfs_root)

    def read(self) -> PowerSample:
        before = time.monotonic()
        rails: Dict[str, float] = {}
        for zone in self.zones:
            try:
                rails[zone.label] = zone.read_energy_j()
            except PermissionError as exc:
                raise SensorError(
                    "RAPL energy_uj is readable only by root since Linux 5.10 (%s): run the agent as root "
                    "or grant read access to /sys/class/powercap/intel-rapl:*/energy_uj" % exc
                ) from exc
            except OSError as exc:
                raise SensorError("cannot read RAPL zone %s: %s" % (zone.label, exc)) from exc
        after = time.monotonic()
        total = sum(rails[z.label] for z in self._packages)
        return PowerSample(t_monotonic_s=0.5 * (before + after), energy_j=total, rails_energy_j=rails)
