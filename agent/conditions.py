"""Device conditions around a measurement: temperatures and clocks before and after the window.

A run whose clocks fell or whose temperature climbed into throttling territory measured a different
machine at the end than at the start; the harness records both snapshots and flags such a window
(design.md, "Validity"). Read from sysfs only, with an injected root so tests use a fake tree:

    class/thermal/thermal_zone*/type, temp, trip_point_*_type, trip_point_*_temp   (milli-degrees C)
    devices/system/cpu/cpu*/cpufreq/scaling_cur_freq                               (kHz)
    class/devfreq/*/cur_freq                                  (Hz; Jetson GPU and EMC clocks)

Only two things flag a window: the fastest CPU clock falling (the busy cores' clock; idle cores
wander with the governor), and a zone reaching its own passive trip point (85 C where it has none).
devfreq clocks are recorded but not judged: a GPU clock falls by design when a CPU runtime leaves
the GPU idle. PMIC die zones are skipped: on Jetson Nano, TX2 and Xavier they read a fixed 100 C.
GPU load, clocks, temperature and memory (NVML, Jetson sysfs) come from :mod:`agent.gpu_conditions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from agent import gpu_conditions

#: A clock that ends this much below where it started (relative) suggests throttling.
CLOCK_DROP = 0.10
#: Temperature flagged at the end of a window for a zone without a passive trip point.
HOT_C = 85.0
#: Zone types that do not measure a die that throttles (they read a constant on some boards).
_IGNORED_ZONES = ("PMIC",)


def _read_number(path: Path) -> float:
    return float(path.read_text().strip())


def _passive_trip_c(zone: Path) -> Optional[float]:
    for trip_type in sorted(zone.glob("trip_point_*_type")):
        try:
            if trip_type.read_text().strip() == "passive":
                return _read_number(zone / trip_type.name.replace("_type", "_temp")) / 1000.0
        except (OSError, ValueError):
            continue
    return None


def snapshot(sysfs_root: Path = Path("/sys")) -> Dict[str, float]:
    """``{"temp_c:<zone type>": C, "cpu_mhz:max": MHz, "cpu_mhz:min": MHz, "devfreq_mhz:<name>": MHz}``.

    Missing or unreadable files are skipped: a machine without them simply reports fewer keys."""
    out: Dict[str, float] = {}
    for zone in sorted((sysfs_root / "class" / "thermal").glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text().strip() or zone.name
            if name.startswith(_IGNORED_ZONES):
                continue
            out["temp_c:%s" % name] = _read_number(zone / "temp") / 1000.0
        except (OSError, ValueError):
            continue
        passive = _passive_trip_c(zone)
        if passive is not None:
            out["trip_c:%s" % name] = passive
    cpu_mhz: List[float] = []
    for freq in sorted((sysfs_root / "devices" / "system" / "cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq")):
        try:
            cpu_mhz.append(_read_number(freq) / 1000.0)
        except (OSError, ValueError):
            continue
    if cpu_mhz:
        out["cpu_mhz:max"] = max(cpu_mhz)
    for dev in sorted((sysfs_root / "class" / "devfreq").glob("*")):
        try:
            out["devfreq_mhz:%s" % dev.name] = _read_number(dev / "cur_freq") / 1e6
        except (OSError, ValueError):
            continue
    out.update(gpu_conditions.snapshot(sysfs_root))
    return out


def compare(before: Dict[str, float], after: Dict[str, float]) -> List[str]:
    """Notes on what changed for the worse between two snapshots (empty when nothing did)."""
    notes = []
    a, b = before.get("cpu_mhz:max"), after.get("cpu_mhz:max")
    if a and b is not None and b < a * (1.0 - CLOCK_DROP):
        notes.append("fastest CPU clock fell from %.0f to %.0f MHz during the window: throttled?" % (a, b))
    for key in sorted(after):
        if key.startswith("temp_c:"):
            zone = key[len("temp_c:") :]
            limit = after.get("trip_c:" + zone, HOT_C)
            if after[key] >= limit:
                notes.append(
                    "%s reached %.1f C by the end of the window (throttles at %.0f C)" % (zone, after[key], limit)
                )
    notes.extend(gpu_conditions.compare(before, after))
    return notes
