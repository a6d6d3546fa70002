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


def fake_jtop_module(power: dict[str, Any], start_error: str = "", interval: float = 0.5, attach: bool = True):
    """jetson-stats 4.x's client as the sensor sees it: ``start``/``close``/``is_alive``, the served
    ``interval``, the ``power`` property, and ``attach(observer)``: the real client's reader thread
    updates its data when the service sends an update and then calls every observer with itself
    (jtop/jtop.py ``_get_data``). ``deliver`` plays one such update; old clients had no ``attach``."""
    m = types.ModuleType("jtop")
    m.JtopException = JtopException  # type: ignore[attr-defined]

    class jtop:  # noqa: N801 - the real class name
        instances: list = []

        def __init__(self, interval: float = 0.5) -> None:
            self.requested = interval
            self.interval = served
            self.power = power
            self.alive = False
            self._observers: list = []
            jtop.instances.append(self)

        def deliver(self, new_power: dict[str, Any]) -> None:
            """An update from the service arrives: data first, then the observers."""
            self.power = new_power
            for observer in self._observers:
                observer(self)

        def start(self) -> None:
            if start_error:
                raise JtopException(start_error)
            self.alive = True

        def is_alive(self) -> bool:
            return self.alive

        def close(self) -> None:
            self.alive = False

    if attach:

        def attach_observer(self, observer) -> None:  # type: ignore[no-untyped-def]
            self._observers.append(observer)

        jtop.attach = attach_observer  # type: ignore[attr-defined]
    served = interval
    m.jtop = jtop  # type: ignore[attr-defined]
    return m


def with_total(power: dict[str, Any], total_mw: int) -> dict[str, Any]:
    return {"rail": power["rail"], "tot": dict(power["tot"], power=total_mw)}


def test_a_reading_is_stamped_when_its_update_arrived_not_when_read(monkeypatch):
    """The landed sensor stamped each reading when it read it, so a value the service sent up to an
    interval earlier carried a later time."""
    import time

    module = fake_jtop_module(ORIN_NANO)
    monkeypatch.setitem(sys.modules, "jtop", module)
    sensor = JtopSensor()
    client = module.jtop.instances[0]

    client.deliver(with_total(ORIN_NANO, 7000))
    arrived = time.monotonic()
    time.sleep(0.3)
    first = sensor.read()
    again = sensor.read()  # no new update: the same reading, with the same stamp

    assert first.power_w == pytest.approx(7.0)
    assert abs(first.t_monotonic_s - arrived) < 0.05
    assert again.t_monotonic_s == first.t_monotonic_s
    assert sensor.stamps == "arrival" and sensor.timestamp_uncertainty_s <= 0.05
    client.deliver(with_total(ORIN_NANO, 8000))
    assert sensor.read().power_w == pytest.approx(8.0)
    assert "stamped when each service update arrived" in sensor.method


def test_without_attach_a_reading_is_stamped_half_an_interval_back_with_that_uncertainty(monkeypatch):
    import time

    monkeypatch.setitem(sys.modules, "jtop", fake_jtop_module(ORIN_NANO, interval=1.0, attach=False))
    sensor = JtopSensor()

    before = time.monotonic()
    sample = sensor.read()

    assert sensor.stamps == "read"
    assert sensor.timestamp_uncertainty_s == pytest.approx(0.5)
    assert sample.t_monotonic_s == pytest.approx(before - 0.5, abs=0.05)
    assert "no attach" in sensor.method


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
