from __future__ import annotations

import sys
import types

import pytest

from agent.errors import SensorError
from agent.power.nvml import COUNTER_MIN_WINDOW_S, NVMLSensor


class NVMLError(Exception):
    pass


def fake_pynvml(energy_mj: dict[int, int], power_mw: dict[int, int], calls: list[str], init_fails=False):
    """A stand-in for pynvml with the calls NVMLSensor makes; a GPU missing from a dict raises
    NVMLError there, as NVML does for an unsupported query."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]

    def init():
        calls.append("init")
        if init_fails:
            raise NVMLError("Driver Not Loaded")

    def query(table):
        def get(handle):
            if handle not in table:
                raise NVMLError("Not Supported")
            return table[handle]

        return get

    m.nvmlInit = init  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: max(len(energy_mj), len(power_mw))  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetTotalEnergyConsumption = query(energy_mj)  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = query(power_mw)  # type: ignore[attr-defined]
    return m


def test_absent_pynvml_is_a_sensor_error_with_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError

    with pytest.raises(SensorError, match="nvidia-ml-py"):
        NVMLSensor()


def test_energy_counter_is_preferred_and_summed_over_gpus(monkeypatch):
    calls: list[str] = []
    energy = {0: 1_500_000, 1: 500_000}
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy, {0: 300_000, 1: 100_000}, calls))

    sensor = NVMLSensor()
    sample = sensor.read()

    assert sensor.use_counter
    assert sample.energy_j == pytest.approx(2000.0)  # mJ -> J
    assert sample.rails_energy_j == pytest.approx({"gpu0": 1500.0, "gpu1": 500.0})
    assert sample.power_w is None
    assert sensor.source == "nvml:gpu0+gpu1"
    assert sensor.min_window_s == COUNTER_MIN_WINDOW_S
    assert "energy counter" in sensor.method
    energy[0] += 250_000
    assert sensor.read().energy_j == pytest.approx(2250.0)
    sensor.close()
    sensor.close()
    assert calls.count("shutdown") == 1


def test_power_usage_when_the_gpu_has_no_energy_counter(monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({}, {0: 70_500}, calls))

    sensor = NVMLSensor()
    sample = sensor.read()

    assert not sensor.use_counter
    assert sample.power_w == pytest.approx(70.5)  # mW -> W
    assert sample.rails_w == {"gpu0": pytest.approx(70.5)}
    assert sensor.min_window_s == 0.0
    assert "power usage" in sensor.method


def test_one_gpu_by_index(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: 1000, 1: 9000}, {}, []))

    sensor = NVMLSensor(index=1)

    assert sensor.source == "nvml:gpu1"
    assert sensor.read().energy_j == pytest.approx(9.0)
    with pytest.raises(SensorError, match="does not exist"):
        NVMLSensor(index=2)


def test_no_power_at_all_points_to_the_jetson_sensor_and_shuts_nvml_down(monkeypatch):
    calls: list[str] = []
    m = fake_pynvml({}, {}, calls)  # one GPU that answers neither query (as on Jetson)
    m.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", m)

    with pytest.raises(SensorError, match="ina3221"):
        NVMLSensor()
    assert calls == ["init", "shutdown"]


def test_nvml_that_does_not_start_is_a_sensor_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({}, {}, [], init_fails=True))

    with pytest.raises(SensorError, match="Driver Not Loaded"):
        NVMLSensor()


def test_a_failed_read_is_a_sensor_error(monkeypatch):
    energy = {0: 1000}
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy, {}, []))
    sensor = NVMLSensor()
    del energy[0]

    with pytest.raises(SensorError, match="NVML read failed"):
        sensor.read()


def test_live_nvml_reads_a_real_gpu():
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed here")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA GPU or driver here: {exc}")
    with NVMLSensor() as sensor:
        sample = sensor.read()
    assert (sample.energy_j or 0) > 0 or (sample.power_w or 0) > 0
