from __future__ import annotations

import sys
import types

import pytest

from agent.errors import SensorError
from agent.power.nvml import COUNTER_MIN_WINDOW_S, POWER_MIN_WINDOW_S, NVMLSensor
from agent.power.sampler import report_for_window


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
    assert sensor.min_window_s == POWER_MIN_WINDOW_S
    assert "power usage" in sensor.method and "stamped 0.5 s back" in sensor.method
    # no architecture query: the averaging period may be shorter than a second, so wider timing
    assert sensor.timestamp_uncertainty_s == pytest.approx(0.5)


class FakeClock:
    """Stands in for the ``time`` module inside agent.power.nvml, so readings happen at set instants."""

    def __init__(self, t: float) -> None:
        self.t = t

    def monotonic(self) -> float:
        return self.t


class TrailingAverageMilliwatts(dict):
    """What Ampere's driver reports for GPU 0: the average power over the second before the read
    (NVML reference: "power averaged over 1 sec interval"), of a board whose power steps."""

    def __init__(self, clock: FakeClock, power_w) -> None:  # type: ignore[no-untyped-def]
        super().__init__({0: 0})
        self.clock, self.power_w = clock, power_w

    def __getitem__(self, handle: int) -> int:
        t, n = self.clock.t, 1000
        return int(round(1000.0 * sum(self.power_w(t - 1.0 + (k + 0.5) / n) for k in range(n)) / n))


def test_a_one_second_average_is_stamped_at_its_middle_so_a_step_integrates_exactly(monkeypatch):
    """The landed code stamped each reading when read: the whole series lagged half a second, and a
    window over a 50 -> 150 W step read 650 J for a true 700 J (-7%)."""
    clock = FakeClock(1000.0)
    step_at = 1005.0

    def power_w(t: float) -> float:
        return 50.0 if t < step_at else 150.0

    m = fake_pynvml({}, {}, [])
    m.nvmlDeviceGetPowerUsage = lambda handle, table=TrailingAverageMilliwatts(clock, power_w): table[handle]  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    m.nvmlDeviceGetArchitecture = lambda handle: 7  # type: ignore[attr-defined]  # NVML_DEVICE_ARCH_AMPERE
    monkeypatch.setitem(sys.modules, "pynvml", m)
    monkeypatch.setattr("agent.power.nvml.time", clock)
    sensor = NVMLSensor()
    assert sensor.lag_s == pytest.approx(0.5) and sensor.timestamp_uncertainty_s == pytest.approx(0.1)
    assert "Ampere or newer" in sensor.method

    samples = []
    for k in range(121):  # 10 Hz reads from t = 1000 to 1012
        clock.t = 1000.0 + 0.1 * k
        samples.append(sensor.read())
    report = report_for_window(samples, 1003.0, 1009.0, sensor, period_s=0.1)

    true_j = 50.0 * (step_at - 1003.0) + 150.0 * (1009.0 - step_at)
    assert report.energy_j == pytest.approx(true_j, rel=0.005)
    assert report.energy_uncertainty_j == pytest.approx(0.1 * (50.0 + 150.0), rel=0.01)


def test_a_window_shorter_than_the_averaging_allows_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({}, {0: 70_500}, []))
    sensor = NVMLSensor()
    samples = [sensor.read() for _ in range(3)]
    with pytest.raises(SensorError, match="5 s minimum"):
        report_for_window(samples, samples[0].t_monotonic_s, samples[0].t_monotonic_s + 2.0, sensor, 0.1)


def test_counter_readings_are_stamped_half_an_update_back(monkeypatch):
    clock = FakeClock(50.0)
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: 1000}, {}, []))
    monkeypatch.setattr("agent.power.nvml.time", clock)
    sensor = NVMLSensor()

    assert sensor.read().t_monotonic_s == pytest.approx(50.0 - 0.05)
    assert sensor.timestamp_uncertainty_s == pytest.approx(0.05)


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
