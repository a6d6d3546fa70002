"""Device conditions around a measurement: temperatures and clocks before and after the window.

A run whose clocks fell or whose temperature climbed into throttling territory measured a different
machine at the end than at the start; the harness records both snapshots and flags such a window
(design.md, "Validity"). Read from sysfs only, with an injected root so tests use a fake tree:

    thermal/thermal_zone*/type, temp            (milli-degrees Celsius)
    devices/system/cpu/cpu*/cpufreq/scaling_cur_freq   (kHz)
    class/devfreq/*/cur_freq                    (Hz; Jetson GPU and EMC clocks)
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

#: A clock that ends this much below where it started (relative) suggests throttling.
CLOCK_DROP = 0.10
#: Temperatures at or above this at the end of a window are reported (most SoCs throttle near 85-100 C).
HOT_C = 85.0


def _read_number(path: Path) -> float:
    return float(path.read_text().strip())


def snapshot(sysfs_root: Path = Path("/sys")) -> Dict[str, float]:
    """``{"temp_c:<zone type>": C, "cpu_mhz:max": MHz, "cpu_mhz:min": MHz, "devfreq_mhz:<name>": MHz}``.

    Missing or unreadable files are skipped: a machine without them simply reports fewer keys."""
    out: Dict[str, float] = {}
    for zone in sorted((sysfs_root / "class" / "thermal").glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text().strip() or zone.name
            out["temp_c:%s" % name] = _read_number(zone / "temp") / 1000.0
        except (OSError, ValueError):
            continue
    cpu_mhz: List[float] = []
    for freq in sorted((sysfs_root / "devices" / "system" / "cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq")):
        try:
            cpu_mhz.append(_read_number(freq) / 1000.0)
        except (OSError, ValueError):
            continue
    if cpu_mhz:
        out["cpu_mhz:max"] = max(cpu_mhz)
        out["cpu_mhz:min"] = min(cpu_mhz)
    for dev in sorted((sysfs_root / "class" / "devfreq").glob("*")):
        try:
            out["devfreq_mhz:%s" % dev.name] = _read_number(dev / "cur_freq") / 1e6
        except (OSError, ValueError):
            continue
    return out


def compare(before: Dict[str, float], after: Dict[str, float]) -> List[str]:
    """Notes on what changed for the worse between two snapshots (empty when nothing did)."""
    notes = []
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        if "_mhz:" in key and a > 0 and b < a * (1.0 - CLOCK_DROP):
            notes.append("clock %s fell from %.0f to %.0f MHz during the window: throttled?" % (key, a, b))
    for key in sorted(after):
        if key.startswith("temp_c:") and after[key] >= HOT_C:
            notes.append("%s reached %.1f C by the end of the window: near throttling" % (key[7:], after[key]))
    return notes
