from __future__ import annotations

import pytest

from agent.errors import SensorError
from agent.power.rapl import RAPLSensor, RAPLZone

from .fake_sysfs import RAPL_DESKTOP, RAPL_MAX_RANGE_UJ, RAPL_SERVER, make_rapl_sysfs, set_rapl_energy

MAX = RAPL_MAX_RANGE_UJ


def test_desktop_zones_package_summed_subzones_and_psys_kept_as_rails(tmp_path):
    energy = {
        "intel-rapl:0": 5_000_000,
        "intel-rapl:0:0": 3_000_000,
        "intel-rapl:0:1": 1_000_000,
        "intel-rapl:1": 9_000_000,
    }
    sysfs = make_rapl_sysfs(tmp_path, RAPL_DESKTOP, energy)

    sensor = RAPLSensor(sysfs_root=sysfs)
    sample = sensor.read()

    assert [z.label for z in sensor.zones] == ["package-0", "package-0:core", "package-0:uncore", "psys"]
    assert sensor.source == "rapl:package-0"
    assert sample.energy_j == pytest.approx(5.0)  # package only; psys is not a package
    assert sample.power_w is None
    assert sample.rails_energy_j == pytest.approx(
        {"package-0": 5.0, "package-0:core": 3.0, "package-0:uncore": 1.0, "psys": 9.0}
    )
    assert "CPU package only" in sensor.method


def test_mmio_duplicate_of_the_package_is_not_counted(tmp_path):
    sysfs = make_rapl_sysfs(tmp_path, {"intel-rapl:0": "package-0"}, {"intel-rapl:0": 2_000_000}, mmio=True)
    (sysfs / "class/powercap/intel-rapl-mmio:0/energy_uj").write_text("7000000\n")

    sensor = RAPLSensor(sysfs_root=sysfs)

    assert [z.label for z in sensor.zones] == ["package-0"]
    assert sensor.read().energy_j == pytest.approx(2.0)


def test_two_sockets_are_summed_with_dram_as_rails(tmp_path):
    energy = {"intel-rapl:0": 1_000_000, "intel-rapl:0:0": 100, "intel-rapl:1": 2_500_000, "intel-rapl:1:0": 200}
    sensor = RAPLSensor(sysfs_root=make_rapl_sysfs(tmp_path, RAPL_SERVER, energy))

    sample = sensor.read()

    assert sensor.source == "rapl:package-0+package-1"
    assert sample.energy_j == pytest.approx(3.5)
    assert set(sample.rails_energy_j) == {"package-0", "package-0:dram", "package-1", "package-1:dram"}


def test_counter_wraps_are_counted_and_unfolded(tmp_path):
    zone = "intel-rapl:0"
    sysfs = make_rapl_sysfs(tmp_path, {zone: "package-0"}, {zone: MAX - 300_000_000})
    sensor = RAPLSensor(sysfs_root=sysfs)  # reads once: MAX - 300 J
    start = sensor.read().energy_j
    assert start is not None

    set_rapl_energy(sysfs, {zone: MAX - 100_000_000})  # +200 J
    a = sensor.read().energy_j
    set_rapl_energy(sysfs, {zone: 50_000_000})  # wrapped: +100 J to the top, +50 J after
    b = sensor.read().energy_j
    set_rapl_energy(sysfs, {zone: MAX - 10_000_000})  # +262093.3 J, no wrap
    c = sensor.read().energy_j
    set_rapl_energy(sysfs, {zone: 20_000_000})  # second wrap: +10 J, +20 J
    d = sensor.read().energy_j

    assert sensor.zones[0].wraps == 2
    assert a - start == pytest.approx(200.0)
    assert b - a == pytest.approx(150.0)
    assert c - b == pytest.approx((MAX - 10_000_000 - 50_000_000) / 1e6)
    assert d - c == pytest.approx(30.0)
    # the unfolded counter never goes backwards, and the total is exact
    assert d - start == pytest.approx((2 * MAX + 20_000_000 - (MAX - 300_000_000)) / 1e6)


def test_wraps_unfold_per_zone_independently(tmp_path):
    energy = {"intel-rapl:0": MAX - 1_000_000, "intel-rapl:0:0": 10, "intel-rapl:1": 5, "intel-rapl:1:0": 10}
    sysfs = make_rapl_sysfs(tmp_path, RAPL_SERVER, energy)
    sensor = RAPLSensor(sysfs_root=sysfs)
    before = sensor.read()

    set_rapl_energy(sysfs, {"intel-rapl:0": 1_000_000, "intel-rapl:1": 3_000_005})
    after = sensor.read()

    assert after.rails_energy_j["package-0"] - before.rails_energy_j["package-0"] == pytest.approx(2.0)
    assert after.rails_energy_j["package-1"] - before.rails_energy_j["package-1"] == pytest.approx(3.0)
    assert after.energy_j - before.energy_j == pytest.approx(5.0)
    assert [z.wraps for z in sensor.zones] == [1, 0, 0, 0]


def test_no_powercap_is_a_sensor_error(tmp_path):
    with pytest.raises(SensorError, match="no RAPL zones"):
        RAPLSensor(sysfs_root=tmp_path)


def test_psys_alone_is_not_a_cpu_package(tmp_path):
    sysfs = make_rapl_sysfs(tmp_path, {"intel-rapl:0": "psys"}, mmio=False)
    with pytest.raises(SensorError, match="no package zone"):
        RAPLSensor(sysfs_root=sysfs)


def test_root_only_counters_give_a_hint(tmp_path, monkeypatch):
    sysfs = make_rapl_sysfs(tmp_path, {"intel-rapl:0": "package-0"})

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self.path / "energy_uj"))

    monkeypatch.setattr(RAPLZone, "read_energy_j", denied)
    with pytest.raises(SensorError, match="root"):
        RAPLSensor(sysfs_root=sysfs)
