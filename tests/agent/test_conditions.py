"""Temperatures and clocks around a window, from a fake sysfs tree laid out like the kernel's."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.conditions import compare, snapshot


def make_tree(
    root: Path,
    temps_mc: dict[str, int],
    cpu_khz: list[int],
    devfreq_hz: dict[str, int],
    passive_mc: dict[str, int] | None = None,
) -> Path:
    for i, (name, mc) in enumerate(temps_mc.items()):
        zone = root / "class" / "thermal" / f"thermal_zone{i}"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "type").write_text(name + "\n")
        (zone / "temp").write_text(f"{mc}\n")
        (zone / "trip_point_0_type").write_text("critical\n")
        (zone / "trip_point_0_temp").write_text("105000\n")
        if passive_mc and name in passive_mc:
            (zone / "trip_point_1_type").write_text("passive\n")
            (zone / "trip_point_1_temp").write_text(f"{passive_mc[name]}\n")
    for i, khz in enumerate(cpu_khz):
        d = root / "devices" / "system" / "cpu" / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True, exist_ok=True)
        (d / "scaling_cur_freq").write_text(f"{khz}\n")
    for name, hz in devfreq_hz.items():
        d = root / "class" / "devfreq" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "cur_freq").write_text(f"{hz}\n")
    return root


def test_snapshot_reads_units_as_the_kernel_writes_them(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path, {"cpu-thermal": 45500, "gpu-thermal": 41000}, [1510400, 729600], {"17000000.gpu": 918000000}
    )
    snap = snapshot(root)
    assert snap["temp_c:cpu-thermal"] == pytest.approx(45.5)
    assert snap["cpu_mhz:max"] == pytest.approx(1510.4)
    assert snap["devfreq_mhz:17000000.gpu"] == pytest.approx(918.0)


def test_missing_tree_gives_an_empty_snapshot(tmp_path: Path) -> None:
    assert snapshot(tmp_path / "nothing") == {}


def test_a_falling_clock_and_a_hot_zone_are_flagged(tmp_path: Path) -> None:
    before = snapshot(make_tree(tmp_path / "a", {"cpu-thermal": 60000}, [1500000, 300000], {"gpu": 900000000}))
    after = snapshot(make_tree(tmp_path / "b", {"cpu-thermal": 91000}, [1100000, 300000], {"gpu": 600000000}))
    notes = compare(before, after)
    assert any("fastest CPU clock fell from 1500 to 1100 MHz" in n for n in notes)
    assert any("cpu-thermal reached 91.0 C" in n and "85 C" in n for n in notes)
    assert compare(before, before) == []


def test_a_zone_is_judged_by_its_own_passive_trip_point(tmp_path: Path) -> None:
    snap = snapshot(make_tree(tmp_path, {"CPU-therm": 90000}, [], {}, passive_mc={"CPU-therm": 97000}))
    assert snap["trip_c:CPU-therm"] == pytest.approx(97.0)
    assert compare(snap, snap) == []


def test_pmic_zone_and_idle_gpu_clock_do_not_flag_a_cpu_run(tmp_path: Path) -> None:
    """Jetson: PMIC-Die reads a constant 100 C; the GPU clock drops when a CPU runtime leaves it idle."""
    before = snapshot(make_tree(tmp_path / "a", {"PMIC-Die": 100000}, [1400000], {"57000000.gpu": 921600000}))
    after = snapshot(make_tree(tmp_path / "b", {"PMIC-Die": 100000}, [1400000], {"57000000.gpu": 76800000}))
    assert "temp_c:PMIC-Die" not in after
    assert compare(before, after) == []
