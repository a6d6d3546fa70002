"""Jetson on-module power monitors (TI INA3221) read straight from sysfs.

Two driver layouts exist; both are discovered once in the constructor and only read afterwards.

hwmon, upstream ``ina3221`` driver (JetPack 5 and 6)::

    /sys/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon<M>/
        in<N>_label     rail name, N = 1..3 ("NC" or absent on an unconnected channel)
        in<N>_input     bus voltage, mV
        curr<N>_input   current, mA
        in<N>_enable    0 when the channel is switched off (optional)
        update_interval conversion time of one cycle, ms (optional)
    in4..6_input are shunt voltages (µV) and in7 the "sum of shunt voltages": they are not rails.

iio, NVIDIA's legacy ``ina3221x`` driver (JetPack 4 and older, e.g. Jetson Nano)::

    /sys/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device<M>/
        rail_name_<N>        rail name, N = 0..2
        in_power<N>_input    power, mW
        in_voltage<N>_input  bus voltage, mV
        in_current<N>_input  current, mA

Power per rail is V × I from the hwmon files (the chip reports no power there) and the driver's own
``in_power`` on the legacy layout. Every rail is kept under its own label. The figure that stands for
the board is the module input rail where the board has one (``VDD_IN`` on Orin Nano/NX and Xavier NX,
``POM_5V_IN`` on Nano); AGX Orin and AGX Xavier have none, so there the figure is the sum of the
monitored rails, which leaves out carrier-board and unmonitored module power (``method`` says so).
The file layout follows jetson_stats' ``jtop/core/power.py`` and the kernel's hwmon/ina3221 docs.
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

#: Module input rails, in order of preference: when present, this rail is the board's figure.
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
#: Labels that name no rail: unconnected channels and the hwmon driver's channel 7.
IGNORED_LABELS = ("NC", "SUM OF SHUNT VOLTAGES")
#: Sampling rate when the driver does not publish its conversion time (legacy layout).
DEFAULT_RATE_HZ = 10.0
#: Upper bound on sampling: each reading is two I2C register reads per rail on a shared bus, done in
#: Python on the device being measured; 20 Hz is 40 readings in a 2 s window at a small CPU cost.
MAX_RATE_HZ = 20.0

_HWMON_LABEL = re.compile(r"^in(\d+)_label$")
_IIO_LABEL = re.compile(r"^rail_name_(\d+)$")


@dataclasses.dataclass(frozen=True)
class INA3221Rail:
    """One monitored rail and the files that hold its readings."""

    label: str
    device: str  # the I2C device, e.g. "1-0040"
    channel: int  # as numbered by the driver (hwmon 1..3, iio 0..2)
    layout: str  # "hwmon" or "iio"
    voltage_mv_path: Path
    current_ma_path: Path
    power_mw_path: Optional[Path] = None  # only the legacy iio driver reports power itself

    def read_power_w(self) -> float:
        if self.power_mw_path is not None:
            return _read_number(self.power_mw_path) / 1000.0
        return _read_number(self.voltage_mv_path) * _read_number(self.current_ma_path) / 1e6


def _read_text(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read().strip()


def _read_number(path: Path) -> float:
    # Some legacy files append a unit ("32760 ma"): the number is the first word.
    text = _read_text(path)
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        raise SensorError("%s holds %r, not a number" % (path, text)) from None


def _subdirs(path: Path, prefix: str) -> List[Path]:
    """Directories (or links to them) in ``path`` whose names start with ``prefix``, sorted."""
    try:
        names = sorted(os.listdir(str(path)))
    except OSError:
        return []
    return [path / n for n in names if n.startswith(prefix) and (path / n).is_dir()]


def _driver_devices(sysfs_root: Path, driver: str) -> List[Path]:
    """The I2C devices bound to ``driver`` (entries like "1-0040"; not "bind", "uevent", "module")."""
    base = sysfs_root / "bus" / "i2c" / "drivers" / driver
    return [d for d in _subdirs(base, "") if re.match(r"^\d+-[0-9a-fA-F]{4}$", d.name)]


def _is_ignored(label: str) -> bool:
    return not label or label.upper() in IGNORED_LABELS


def find_hwmon_rails(sysfs_root: Path) -> List[INA3221Rail]:
    rails = []
    for device in _driver_devices(sysfs_root, "ina3221"):
        for hwmon in _subdirs(device / "hwmon", "hwmon"):
            channels = []
            for name in os.listdir(str(hwmon)):
                m = _HWMON_LABEL.match(name)
                if m:
                    channels.append(int(m.group(1)))
            for n in sorted(channels):
                label = _read_text(hwmon / ("in%d_label" % n))
                volt, curr = hwmon / ("in%d_input" % n), hwmon / ("curr%d_input" % n)
                if _is_ignored(label) or not volt.is_file() or not curr.is_file():
                    continue
                enable = hwmon / ("in%d_enable" % n)
                if enable.is_file() and _read_text(enable) == "0":
                    continue
                rails.append(INA3221Rail(label, device.name, n, "hwmon", volt, curr))
    return rails


def find_iio_rails(sysfs_root: Path) -> List[INA3221Rail]:
    rails = []
    for device in _driver_devices(sysfs_root, "ina3221x"):
        for iio in _subdirs(device, "iio:device"):
            channels = []
            for name in os.listdir(str(iio)):
                m = _IIO_LABEL.match(name)
                if m:
                    channels.append(int(m.group(1)))
            for n in sorted(channels):
                label = _read_text(iio / ("rail_name_%d" % n))
                power = iio / ("in_power%d_input" % n)
                volt, curr = iio / ("in_voltage%d_input" % n), iio / ("in_current%d_input" % n)
                has_vi = volt.is_file() and curr.is_file()
                if _is_ignored(label) or not (power.is_file() or has_vi):
                    continue
                rails.append(INA3221Rail(label, device.name, n, "iio", volt, curr, power if power.is_file() else None))
    return rails


def find_rails(sysfs_root: Path) -> List[INA3221Rail]:
    """Every labelled, connected rail of every INA3221 on the board, hwmon layout first.

    A label seen twice (two chips) is kept apart as ``LABEL@<device>``, so no reading is lost.
    """
    rails = find_hwmon_rails(sysfs_root) + find_iio_rails(sysfs_root)
    counts: Dict[str, int] = {}
    for r in rails:
        counts[r.label] = counts.get(r.label, 0) + 1
    return [dataclasses.replace(r, label="%s@%s" % (r.label, r.device)) if counts[r.label] > 1 else r for r in rails]


def update_interval_ms(sysfs_root: Path) -> Optional[float]:
    """The slowest conversion cycle any hwmon INA3221 publishes, or None where none does."""
    slowest = None
    for device in _driver_devices(sysfs_root, "ina3221"):
        for hwmon in _subdirs(device / "hwmon", "hwmon"):
            path = hwmon / "update_interval"
            if path.is_file():
                try:
                    ms = _read_number(path)
                except (OSError, SensorError):
                    continue
                if ms > 0 and (slowest is None or ms > slowest):
                    slowest = ms
    return slowest


def _how(rails: List[INA3221Rail]) -> str:
    """How the rails' power is obtained, in words for ``method``."""
    parts = []
    if any(r.power_mw_path is None for r in rails):
        parts.append("V × I from in*_input (mV) and curr*_input (mA)")
    if any(r.power_mw_path is not None for r in rails):
        parts.append("the ina3221x driver's in_power*_input (mW)")
    return " and ".join(parts)


def choose_total(labels: List[str]) -> Optional[str]:
    """The module input rail among ``labels``, or None when the board has none (AGX Orin, AGX Xavier)."""
    for name in TOTAL_RAILS:
        if name in labels:
            return name
    return None


class INA3221Sensor(PowerSensor):
    """Jetson INA3221 rails via sysfs; ``power_w`` is the input rail, else the sum of the rails."""

    name = "ina3221"

    def __init__(self, sysfs_root: Path = Path("/sys")) -> None:
        self.sysfs_root = Path(sysfs_root)
        try:
            rails = find_rails(self.sysfs_root)
        except OSError as exc:
            raise SensorError("cannot read the INA3221 rail names: %s" % exc) from exc
        if not rails:
            raise SensorError(
                "no INA3221 rails under %s (looked for hwmon %s and legacy %s): not a Jetson, or the "
                "driver is not loaded"
                % (
                    self.sysfs_root,
                    "bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label",
                    "bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*",
                )
            )
        self.rails: Tuple[INA3221Rail, ...] = tuple(rails)
        labels = [r.label for r in rails]
        self.total_rail = choose_total(labels)
        interval = update_interval_ms(self.sysfs_root)
        self.nominal_rate_hz = min(MAX_RATE_HZ, 1000.0 / interval) if interval else DEFAULT_RATE_HZ
        how = _how(rails)
        if self.total_rail is not None:
            self.source = "ina3221:%s" % self.total_rail
            self.method = "INA3221 module input rail %s read from sysfs (%s); all rails kept: %s" % (
                self.total_rail,
                how,
                ", ".join(labels),
            )
        else:
            self.source = "ina3221:sum"
            self.method = (
                "sum of the INA3221 rails %s read from sysfs (%s); this board has no module input rail, "
                "so carrier-board and unmonitored module power are not included" % (" + ".join(labels), how)
            )
        self.read()  # fail here, not in the sampler thread, when the files are unreadable

    @classmethod
    def create(cls, sysfs_root: Path, proc_root: Path) -> INA3221Sensor:
        return cls(sysfs_root=sysfs_root)

    def read(self) -> PowerSample:
        before = time.monotonic()
        rails_w = {}
        for rail in self.rails:
            try:
                rails_w[rail.label] = rail.read_power_w()
            except OSError as exc:
                raise SensorError("cannot read INA3221 rail %s: %s" % (rail.label, exc)) from exc
        after = time.monotonic()
        total = rails_w[self.total_rail] if self.total_rail is not None else sum(rails_w.values())
        return PowerSample(t_monotonic_s=0.5 * (before + after), power_w=total, rails_w=rails_w)
