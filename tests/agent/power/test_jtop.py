from __future__ import annotations

import os
import sys
import types
from typing import Any

import pytest

from agent.errors import SensorError
from agent.power.jtop import JtopSensor

ORIN_NANO = {  # jetson-stats 4.x shape: the input rail is moved out of "rail" into "tot"
    "rail": {
        "VDD_CPU_GPU_CV": {"online": True, "volt": 5072, "curr": 402, "power": 2039, "avg": 1500},
        "VDD_SOC": {"online": True, "volt": 5076, "curr": 290, "power": 1472, "avg": 1000},
    },
    "tot": {"online": True, "volt": 5080, "curr": 1230, "power": 6248, "avg": 4000, "name": "VDD_IN"},
}
AGX_ORIN = {  # no input rail: jtop sums the rails into "tot" and names none
    "rail": {
        "VDD_GPU_SOC": {"power": 5000, "avg": 1},
        "VDD_CPU_CV": {"power": 3000, "avg": 1},
        "VIN_SYS_5V0": {"power": 4730, "avg": 1},
        "VDDQ_VDD2_1V8AO": {"power": 397, "avg": 1},
    },
    "tot": {"power": 13127, "avg": 4},
}


class JtopException(Exception):
    pass


def fake_jtop_module(power: dict[str, Any], start_error: str = "", interval: float = 0.5):
    m = types.ModuleType("jtop")
    m.JtopException = JtopException  # type: ignore[attr-defined]

    class jtop:  # noqa: N801 - the real class name
        instances: list = []

        def __init__(self, interval: float = 0.5) -> None:
            self.requested = interval
            self.interval = served
            self.power = power
            self.alive = False
            jtop.instances.append(self)

        def start(self) -> None:
            if start_error:
                raise JtopException(start_error)
            self.alive = True

        def is_alive(self) -> bool:
            return self.alive

        def close(self) -> None:
            self.alive = False

    served = interval
    m.jtop = jtop  # type: ignore[attr-defined]
    return m


def test_absent_jtop_is_a_sensor_error_with_a_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", None)

    with pytest.raises(SensorError, match="jetson-stats"):
        JtopSensor()


def test_input_rail_is_the_total_and_instantaneous_power_is_used(monkeypatch):
    module = fake_jtop_module(ORIN_NANO)
    monkeypatch.setitem(sys.modules, "jtop", module)

    sensor = JtopSensor()
    sample = sensor.read()

    assert sensor.source == "jtop:VDD_IN"
    assert sample.power_w == pytest.approx(6.248)  # "power", never "avg"
    assert sample.rails_w == pytest.approx({"VDD_CPU_GPU_CV": 2.039, "VDD_SOC": 1.472, "VDD_IN": 6.248})
    assert sensor.nominal_rate_hz == pytest.approx(2.0)
    assert module.jtop.instances[0].requested == 0.5
    assert "not jtop's running 'avg'" in sensor.method
    sensor.close()
    assert not module.jtop.instances[0].alive


def test_board_without_input_rail_uses_jtops_sum(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(AGX_ORIN))

    sensor = JtopSensor()

    assert sensor.source == "jtop:sum"
    assert sensor.read().power_w == pytest.approx(13.127)
    assert "no input rail" in sensor.method


def test_a_slower_interval_set_by_another_client_sets_the_rate(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(ORIN_NANO, interval=1.0))

    assert JtopSensor().nominal_rate_hz == pytest.approx(1.0)


def test_faster_than_half_a_second_is_refused():
    with pytest.raises(ValueError, match="0.5 s"):
        JtopSensor(interval_s=0.1)


def test_service_down_is_a_sensor_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(ORIN_NANO, start_error="jtop.service is not active"))

    with pytest.raises(SensorError, match="jtop.service"):
        JtopSensor()


def test_no_rails_is_a_sensor_error_and_closes_the_client(monkeypatch):
    module = fake_jtop_module({"rail": {}, "tot": {}})
    monkeypatch.setitem(sys.modules, "jtop", module)

    with pytest.raises(SensorError, match="no power rails"):
        JtopSensor()
    assert not module.jtop.instances[0].alive


def test_lost_connection_is_a_sensor_error(monkeypatch):
    module = fake_jtop_module(ORIN_NANO)
    monkeypatch.setitem(sys.modules, "jtop", module)
    sensor = JtopSensor()
    module.jtop.instances[0].alive = False

    with pytest.raises(SensorError, match="closed"):
        sensor.read()


@pytest.mark.skipif(not os.path.exists("/run/jtop.sock"), reason="no jtop service here (not a Jetson)")
def test_live_jtop_reads_power():
    pytest.importorskip("jtop", reason="jetson-stats is not installed here")
    with JtopSensor() as sensor:
        assert (sensor.read().power_w or 0) > 0
