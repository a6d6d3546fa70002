"""Fake sysfs and procfs trees that mimic the real kernel interfaces, for tests off the device.

Same file names, units and label files as the kernel drivers write them, laid out as on the boards:
the device directory lives under ``devices/`` and ``bus/i2c/drivers/<driver>/<bus>-<addr>`` is a link
to it, as in a real ``/sys``. Sources: the kernel's Documentation/hwmon/ina3221.rst (hwmon files and
units), NVIDIA's device trees (tegra234-p3701/p3767, tegra194-p2888 power-sensor@40/@41 labels),
jetson_stats ``jtop/core/power.py`` (legacy ``ina3221x`` iio files) and tegrastats output per board.

``JETSON_BOARDS`` is keyed by the target profile ids in ``targets/``: per board, one tuple per INA3221
chip, the channel labels in channel order ("NC" is an unconnected channel, as L4T labels it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

JETSON_BOARDS: dict[str, list[tuple[str, ...]]] = {
    # JetPack 4 only: NVIDIA's legacy ina3221x iio driver, tegrastats "POM_5V_IN POM_5V_GPU POM_5V_CPU".
    "jetson-nano-4gb": [("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")],
    "jetson-xavier-nx": [("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")],
    # Two chips at 0x40 (GPU, CPU, SOC) and 0x41 (CV, VDDRQ, SYS5V); no module input rail.
    "jetson-agx-xavier": [("GPU", "CPU", "SOC"), ("CV", "VDDRQ", "SYS5V")],
    "jetson-orin-nano-8gb": [("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")],
    "jetson-orin-nx-16gb": [("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")],
    # tegra234-p3701: 0x40 VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; 0x41 only channel 2 (VDDQ_VDD2_1V8AO).
    "jetson-agx-orin-64gb": [("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"), ("NC", "VDDQ_VDD2_1V8AO", "NC")],
}

#: Per board: the driver layout ("hwmon": JetPack 5/6 upstream ina3221; "iio": legacy ina3221x) and the
#: I2C device of each chip, in the order of JETSON_BOARDS' tuples.
JETSON_LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jetson-nano-4gb": ("iio", ("6-0040",)),
    "jetson-xavier-nx": ("hwmon", ("7-0040",)),
    "jetson-agx-xavier": ("hwmon", ("1-0040", "1-0041")),
    "jetson-orin-nano-8gb": ("hwmon", ("1-0040",)),
    "jetson-orin-nx-16gb": ("hwmon", ("1-0040",)),
    "jetson-agx-orin-64gb": ("hwmon", ("1-0040", "1-0041")),
}

#: The module input rail each board reports, or None where the total is a sum of rails.
JETSON_TOTAL_RAIL: dict[str, str | None] = {
    "jetson-nano-4gb": "POM_5V_IN",
    "jetson-xavier-nx": "VDD_IN",
    "jetson-agx-xavier": None,
    "jetson-orin-nano-8gb": "VDD_IN",
    "jetson-orin-nx-16gb": "VDD_IN",
    "jetson-agx-orin-64gb": None,
}

_NC = "NC"
#: Kernel default INA3221 configuration: 1 sample, 1.1 ms bus + 1.1 ms shunt conversion per channel.
_CONVERSION_MS_PER_CHANNEL = 2.2


def rail_names(board_id: str) -> list[str]:
    """The connected rails of a board, in chip and channel order ("NC" channels left out)."""
    return [label for chip in JETSON_BOARDS[board_id] for label in chip if label != _NC]


def _write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n", encoding="ascii")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        os.symlink(os.path.relpath(str(target), str(link.parent)), str(link))


def _device_dir(root: Path, layout: str, device: str) -> Path:
    bus = device.split("-")[0]
    controller = "7000c400.i2c" if layout == "iio" else "c240000.i2c"
    return root / "devices" / "platform" / "bus@0" / controller / f"i2c-{bus}" / device


def _chip_dir(root: Path, layout: str, device: str, index: int) -> Path:
    if layout == "iio":
        return _device_dir(root, layout, device) / f"iio:device{index}"
    return _device_dir(root, layout, device) / "hwmon" / f"hwmon{3 + index}"


def make_jetson_sysfs(
    root: Path,
    board_id: str,
    rail_values: Mapping[str, tuple[int, int]],
    layout: str | None = None,
) -> Path:
    """Lay out the INA3221 part of ``/sys`` for ``board_id`` under ``root`` and return ``root``, to be
    passed as ``sysfs_root``.

    ``rail_values`` maps rail label -> (bus voltage mV, current mA); rails not named read 0 mA at
    5000 mV. ``layout`` overrides the board's driver layout ("hwmon" or "iio"), e.g. to lay out an AGX
    Xavier as it is on JetPack 4.
    """
    known = set(rail_names(board_id))
    unknown = sorted(set(rail_values) - known)
    if unknown:
        raise ValueError(f"board {board_id} has no rail(s) {unknown}; it has {sorted(known)}")
    board_layout, devices = JETSON_LAYOUTS[board_id]
    layout = layout or board_layout
    driver = "ina3221x" if layout == "iio" else "ina3221"
    drivers = root / "bus" / "i2c" / "drivers" / driver
    for name in ("bind", "unbind", "uevent"):
        _write(drivers / name, "")
    _link(drivers / "module", root / "module" / driver)
    (root / "module" / driver).mkdir(parents=True, exist_ok=True)
    for index, labels in enumerate(JETSON_BOARDS[board_id]):
        device = devices[index]
        device_dir = _device_dir(root, layout, device)
        _write(device_dir / "name", driver)
        _link(drivers / device, device_dir)
        _link(root / "bus" / "i2c" / "devices" / device, device_dir)
        chip = _chip_dir(root, layout, device, index)
        if layout == "iio":
            _write(chip / "name", driver)
            for n, label in enumerate(labels):
                _write(chip / f"rail_name_{n}", label)
                _write(chip / f"crit_current_limit_{n}", 32760)
                _write(chip / f"warn_current_limit_{n}", 32760)
        else:
            _write(chip / "name", driver)
            _link(root / "class" / "hwmon" / chip.name, chip)
            enabled = [label != _NC for label in labels]
            for n, label in enumerate(labels, start=1):
                _write(chip / f"in{n}_label", label)
                _write(chip / f"in{n}_enable", 1 if enabled[n - 1] else 0)
                _write(chip / f"shunt{n}_resistor", 5000)
                _write(chip / f"curr{n}_crit", 32760)
                _write(chip / f"curr{n}_max", 32760)
                _write(chip / f"curr{n}_crit_alarm", 0)
                _write(chip / f"curr{n}_max_alarm", 0)
            # Channel 7 (sum of shunt voltages) and the sum current: not rails.
            _write(chip / "in7_label", "sum of shunt voltages")
            _write(chip / "in7_input", 0)
            _write(chip / "curr4_input", 0)
            _write(chip / "samples", 1)
            _write(chip / "update_interval", int(_CONVERSION_MS_PER_CHANNEL * max(1, sum(enabled))))
    set_jetson_rails(root, board_id, rail_values, layout=layout)
    return root


def set_jetson_rails(
    root: Path,
    board_id: str,
    rail_values: Mapping[str, tuple[int, int]],
    layout: str | None = None,
) -> None:
    """Write new readings into a tree made by ``make_jetson_sysfs``, as the driver would show them."""
    board_layout, devices = JETSON_LAYOUTS[board_id]
    layout = layout or board_layout
    for index, labels in enumerate(JETSON_BOARDS[board_id]):
        device = devices[index]
        chip = _chip_dir(root, layout, device, index)
        for n, label in enumerate(labels):
            if label == _NC:
                mv, ma = 0, 0
            else:
                mv, ma = rail_values.get(label, (5000, 0))
            if layout == "iio":
                _write(chip / f"in_voltage{n}_input", mv)
                _write(chip / f"in_current{n}_input", ma)
                _write(chip / f"in_power{n}_input", mv * ma // 1000)  # the driver's own mW, truncated
            else:
                _write(chip / f"in{n + 1}_input", mv)
                _write(chip / f"curr{n + 1}_input", ma)
                _write(chip / f"in{n + 4}_input", ma * 5)  # shunt voltage, µV, over 5 mΩ


def jetson_chip_dir(root: Path, board_id: str, chip: int = 0, layout: str | None = None) -> Path:
    """The hwmon or iio directory of one chip in a tree made by ``make_jetson_sysfs``."""
    board_layout, devices = JETSON_LAYOUTS[board_id]
    layout = layout or board_layout
    return _chip_dir(root, layout, devices[chip], chip)


# --------------------------------------------------------------------------------------------------
# RAPL (powercap) and /proc/stat
# --------------------------------------------------------------------------------------------------

#: A desktop part's zones: zone id -> name. Packages are "intel-rapl:N", subzones "intel-rapl:N:M".
RAPL_DESKTOP: dict[str, str] = {
    "intel-rapl:0": "package-0",
    "intel-rapl:0:0": "core",
    "intel-rapl:0:1": "uncore",
    "intel-rapl:1": "psys",
}
#: A two-socket server's zones: DRAM is a subzone of each package.
RAPL_SERVER: dict[str, str] = {
    "intel-rapl:0": "package-0",
    "intel-rapl:0:0": "dram",
    "intel-rapl:1": "package-1",
    "intel-rapl:1:0": "dram",
}
#: max_energy_range_uj as a Skylake-era part reports it: 2^32 counts of 61.035 µJ.
RAPL_MAX_RANGE_UJ = 262143328850


def make_rapl_sysfs(
    root: Path,
    zones: Mapping[str, str],
    energy_uj: Mapping[str, int] | None = None,
    max_range_uj: int = RAPL_MAX_RANGE_UJ,
    mmio: bool = True,
) -> Path:
    """Lay out ``/sys/class/powercap`` with ``zones`` (id -> name) under ``root``; return ``root``.

    As on a real machine, zones live under ``devices/virtual/powercap/intel-rapl`` (subzones inside
    their package) and ``class/powercap`` holds a flat link to each. ``mmio`` adds the
    ``intel-rapl-mmio:0`` duplicate of package 0 that client parts expose.
    """
    base = root / "devices" / "virtual" / "powercap" / "intel-rapl"
    _write(base / "enabled", 1)
    _link(root / "class" / "powercap" / "intel-rapl", base)
    for zone, name in zones.items():
        parts = zone.split(":")
        path = base / zone if len(parts) == 2 else base / f"intel-rapl:{parts[1]}" / zone
        _write(path / "name", name)
        _write(path / "max_energy_range_uj", max_range_uj)
        _write(path / "enabled", 1)
        _write(path / "constraint_0_name", "long_term")
        _link(root / "class" / "powercap" / zone, path)
    if mmio:
        path = root / "devices" / "virtual" / "powercap" / "intel-rapl-mmio" / "intel-rapl-mmio:0"
        _write(path / "name", "package-0")
        _write(path / "max_energy_range_uj", max_range_uj)
        _write(path / "energy_uj", 0)
        _link(root / "class" / "powercap" / "intel-rapl-mmio:0", path)
    set_rapl_energy(root, {z: (energy_uj or {}).get(z, 0) for z in zones})
    return root


def set_rapl_energy(root: Path, energy_uj: Mapping[str, int]) -> None:
    """Set the ``energy_uj`` counters of the named zones (id -> µJ)."""
    for zone, value in energy_uj.items():
        _write(root / "class" / "powercap" / zone / "energy_uj", value)


def write_proc_stat(root: Path, cpu: tuple[int, ...], cpus: int = 4) -> Path:
    """Write ``<root>/stat`` with the aggregate ``cpu`` line ``cpu`` (user nice system idle iowait irq
    softirq steal guest guest_nice, in USER_HZ ticks) and ``cpus`` per-CPU lines; return ``root``."""
    per_cpu = tuple(v // cpus for v in cpu)
    lines = ["cpu  " + " ".join(str(v) for v in cpu)]
    lines += [f"cpu{i} " + " ".join(str(v) for v in per_cpu) for i in range(cpus)]
    lines += [
        "intr 1183148227 0 158138519 160761681 0 0 0 21819776",
        "ctxt 1028840383",
        "btime 1674644431",
        "processes 30001646",
        "procs_running 1",
        "procs_blocked 0",
        "softirq 1314597723 23996821 482246074 121 7508149 802592 110 476 600432457 4439 199606484",
    ]
    _write(root / "stat", "\n".join(lines))
    return root


def write_process_stat(
    root: Path, pid: int | str = "self", utime: int = 0, stime: int = 0, comm: str = "python3"
) -> Path:
    """Write ``<root>/<pid>/stat`` as the kernel does (proc(5)): utime and stime, fields 14 and 15, in
    clock ticks; the command name in parentheses may hold spaces. Returns ``root``."""
    fields = ["S", "1", "4242", "4242", "0", "-1", "4194304", "1000", "0", "0", "0", str(utime), str(stime)]
    fields += ["0", "0", "20", "0", "5", "0", "123456", "987654321", "2048"]
    _write(root / str(pid) / "stat", f"4242 ({comm}) " + " ".join(fields))
    return root


def write_cpuinfo(root: Path, model_name: str | None = None, board_model: str | None = None, cpus: int = 2) -> Path:
    """Write ``<root>/cpuinfo``: x86 style (a ``model name`` line per CPU) or, with ``board_model``,
    Raspberry Pi style (no model name; a ``Model`` line at the end). Returns ``root``."""
    blocks = []
    for i in range(cpus):
        lines = [f"processor\t: {i}"]
        if model_name is not None:
            lines += ["vendor_id\t: AuthenticAMD", "cpu family\t: 25", f"model name\t: {model_name}"]
        else:
            lines += ["BogoMIPS\t: 108.00", "CPU implementer\t: 0x41", "CPU part\t: 0xd08"]
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks) + "\n"
    if board_model is not None:
        text += f"\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: {board_model}\n"
    _write(root / "cpuinfo", text)
    return root
