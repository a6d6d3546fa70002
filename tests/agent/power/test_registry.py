from __future__ import annotations

import sys

import pytest

from agent.errors import SensorError
from agent.power import DISCOVERY_ORDER, FALLBACK, SENSORS, available, discover, probe, sensor_class
from agent.power.base import PowerSensor
from agent.power.estimate import CPULoadEstimate
from agent.power.ina3221 import INA3221Sensor
from agent.power.rapl import RAPLSensor

from .fake_sysfs import RAPL_DESKTOP, make_jetson_sysfs, make_rapl_sysfs, write_proc_stat, write_process_stat

STAT = (1000, 0, 500, 8000, 200, 0, 100, 0, 0, 0)


@pytest.fixture(autouse=True)
def no_optional_packages(monkeypatch):
    """jtop and pynvml absent, whatever this machine has, so discovery depends on the fake trees."""
    monkeypatch.setitem(sys.modules, "jtop", None)
    monkeypatch.setitem(sys.modules, "pynvml", None)


@pytest.fixture
def roots(tmp_path):
    sysfs, proc = tmp_path / "sys", tmp_path / "proc"
    sysfs.mkdir()
    write_proc_stat(proc, STAT)
    write_process_stat(proc, "self", utime=100, stime=20)
    return sysfs, proc


def test_every_registered_sensor_imports_and_carries_its_name():
    for name in SENSORS:
        cls = sensor_class(name)
        assert issubclass(cls, PowerSensor)
        assert cls.name == name
    assert set(DISCOVERY_ORDER) | {FALLBACK} == set(SENSORS)


def test_unknown_sensor_name():
    with pytest.raises(SensorError, match="unknown power sensor 'meter'"):
        sensor_class("meter")


def test_jetson_discovers_ina3221(roots):
    sysfs, proc = roots
    make_jetson_sysfs(sysfs, "jetson-orin-nano-8gb", {"VDD_IN": (5000, 1000)})

    sensor = discover(sysfs_root=sysfs, proc_root=proc)

    assert isinstance(sensor, INA3221Sensor)
    assert sensor.source == "ina3221:VDD_IN"


def test_x86_without_gpu_discovers_rapl(roots):
    sysfs, proc = roots
    make_rapl_sysfs(sysfs, RAPL_DESKTOP)

    assert isinstance(discover(sysfs_root=sysfs, proc_root=proc), RAPLSensor)


def test_nothing_found_falls_back_to_the_estimate(roots):
    sysfs, proc = roots

    sensor = discover(sysfs_root=sysfs, proc_root=proc)

    assert isinstance(sensor, CPULoadEstimate)
    assert sensor.estimated


def test_estimate_options_reach_the_fallback(roots):
    sysfs, proc = roots

    sensor = discover(sysfs_root=sysfs, proc_root=proc, estimate_options={"watts_per_busy_core": 6.0, "idle_w": 9.0})

    assert isinstance(sensor, CPULoadEstimate)
    assert (sensor.watts_per_busy_core, sensor.idle_w) == (6.0, 9.0)


def test_preferred_sensor_comes_first(roots):
    sysfs, proc = roots
    make_jetson_sysfs(sysfs, "jetson-orin-nano-8gb", {})
    make_rapl_sysfs(sysfs, RAPL_DESKTOP)

    assert isinstance(discover(sysfs_root=sysfs, proc_root=proc, prefer="rapl"), RAPLSensor)
    assert isinstance(discover(sysfs_root=sysfs, proc_root=proc, prefer=["nvml", "estimate"]), CPULoadEstimate)
    # a preferred sensor that is absent gives way to the usual order
    assert isinstance(discover(sysfs_root=sysfs, proc_root=proc, prefer="jtop"), INA3221Sensor)


def test_unknown_preference_is_refused(roots):
    sysfs, proc = roots
    with pytest.raises(SensorError, match="unknown power sensor"):
        discover(sysfs_root=sysfs, proc_root=proc, prefer="meter")


def test_no_source_at_all_names_every_reason(tmp_path):
    with pytest.raises(SensorError) as info:
        discover(sysfs_root=tmp_path, proc_root=tmp_path)
    message = str(info.value)
    for name in list(DISCOVERY_ORDER) + [FALLBACK]:
        assert f"{name}:" in message


def test_available_and_probe(roots):
    sysfs, proc = roots
    make_jetson_sysfs(sysfs, "jetson-agx-orin-64gb", {})

    assert available(sysfs_root=sysfs, proc_root=proc) == ["ina3221", "estimate"]
    reasons = probe(sysfs_root=sysfs, proc_root=proc)
    assert reasons["ina3221"] is None and reasons["estimate"] is None
    assert "jetson-stats" in reasons["jtop"]
    assert "nvidia-ml-py" in reasons["nvml"]
    assert "no RAPL zones" in reasons["rapl"]
