"""Jetson power through jetson-stats' ``jtop`` client: optional, used only where it is installed.

jetson-stats is AGPL-3.0 and works only through its systemd service (``/run/jtop.sock``; client and
service versions must match), so the agent never requires it: its own ina3221 sensor reads the same
chips without it. What this sensor takes from jtop, and what it leaves:

- it reads the instantaneous ``power`` of each rail (mW). jtop's ``avg`` is a running blend of the
  previous blend and the new reading, not an average over any window, so it is never used;
- jtop gives no per-sample timestamps: a reading is timestamped when it is read here, so it can be
  up to one service interval old;
- the first client of the service sets its sampling interval for everyone; the maintainers advise
  0.5 s or slower, and this sensor asks for no faster.
"""

from __future__ import annotations

import time
from typing import Any, Dict

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor

INSTALL_HINT = (
    "install jetson-stats and its service (AGPL-3.0): sudo pip3 install -U jetson-stats, then reboot; "
    "or use the agent's own ina3221 sensor, which needs neither"
)
#: The fastest interval jetson-stats' maintainers advise.
MIN_INTERVAL_S = 0.5
#: jtop sums the rails itself when a board has no input rail; this is how we label that figure.
_SUM = "sum"


class JtopSensor(PowerSensor):
    """Rails and total from the jtop service; instantaneous values only."""

    name = "jtop"

    def __init__(self, interval_s: float = MIN_INTERVAL_S) -> None:
        if interval_s < MIN_INTERVAL_S:
            raise ValueError(
                "jtop interval %.3f s is faster than the %.1f s its maintainers advise" % (interval_s, MIN_INTERVAL_S)
            )
        try:
            from jtop import JtopException, jtop
        except ImportError as exc:
            raise SensorError("jtop is not installed: %s" % INSTALL_HINT) from exc
        self._jetson: Any = jtop(interval=interval_s)
        try:
            self._jetson.start()
        except JtopException as exc:
            raise SensorError("the jtop service did not answer (is jtop.service running?): %s" % exc) from exc
        self._open = True
        # The first client sets the service's interval; another client may have set a slower one.
        served = float(getattr(self._jetson, "interval", interval_s) or interval_s)
        self.nominal_rate_hz = 1.0 / max(served, MIN_INTERVAL_S)
        try:
            power = self._power()
        except SensorError:
            self.close()
            raise
        total_name = power["tot"].get("name")
        rails = sorted(power["rail"])
        self.source = "jtop:%s" % (total_name or _SUM)
        if total_name:
            what = "module input rail %s" % total_name
        else:
            what = "sum of the rails %s as jtop adds them (no input rail on this board)" % " + ".join(rails)
        self.method = (
            "jtop service, %s: instantaneous power (not jtop's running 'avg'), timestamped on reading, "
            "so up to one %.1f s service interval late" % (what, 1.0 / self.nominal_rate_hz)
        )

    def _power(self) -> Dict[str, Any]:
        if not self._jetson.is_alive():
            raise SensorError("the connection to the jtop service is closed")
        power = self._jetson.power
        if not isinstance(power, dict) or not power.get("rail") or "power" not in power.get("tot", {}):
            raise SensorError("jtop reports no power rails here (jetson-stats 4.x expected): %r" % (power,))
        return power

    def read(self) -> PowerSample:
        t = time.monotonic()
        power = self._power()
        rails_w = {
            name: float(rail["power"]) / 1000.0
            for name, rail in power["rail"].items()
            if "power" in rail and rail.get("online", True)
        }
        total = power["tot"]
        total_w = float(total["power"]) / 1000.0
        if total.get("name"):  # jtop moves the input rail out of "rail"; keep every rail by its label
            rails_w[str(total["name"])] = total_w
        return PowerSample(t_monotonic_s=t, power_w=total_w, rails_w=rails_w)

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            self._jetson.close()
