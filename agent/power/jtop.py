"""Jetson power through jetson-stats' ``jtop`` client: optional, used only where it is installed.

jetson-stats is AGPL-3.0 and works only through its systemd service (``/run/jtop.sock``; client and
service versions must match), so the agent never requires it: its own ina3221 sensor reads the same
chips without it. What this sensor takes from jtop, and what it leaves:

- it reads the instantaneous ``power`` of each rail (mW). jtop's ``avg`` is a running blend of the
  previous blend and the new reading, not an average over any window, so it is never used;
- jtop gives no per-sample timestamps. Where the client has ``attach`` (jetson-stats 4.x calls each
  observer from its reader thread the moment an update from the service arrives), a reading is
  stamped when its update *arrived*, and reading it again later keeps that stamp; the uncertainty
  left is the service's own delay between its read of the chips and the update (``ARRIVAL_DELAY_S``
  at most, assumed). Without ``attach`` a reading can only be stamped when it is read here, which can
  be up to one service interval after the service sampled it: it is stamped half an interval back,
  give or take as much, and ``stamps`` and ``method`` say so;
- the first client of the service sets its sampling interval for everyone; the maintainers advise
  0.5 s or slower, and this sensor asks for no faster.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Optional, Tuple

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
#: Assumed bound on the delay between the service reading the chips and its update reaching us.
ARRIVAL_DELAY_S = 0.05


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
        self._lock = threading.Lock()
        self._latest: Optional[Tuple[float, Dict[str, Any]]] = None
        attach = getattr(self._jetson, "attach", None)
        if callable(attach):
            attach(self._on_update)  # called from jtop's reader thread on every update
            self.stamps = "arrival"
            self.timestamp_uncertainty_s = ARRIVAL_DELAY_S
        else:
            # a value read now was sampled up to one interval ago: stamp it in the middle, give or take
            self.stamps = "read"
            self.lag_s = 0.5 / self.nominal_rate_hz
            self.timestamp_uncertainty_s = 0.5 / self.nominal_rate_hz
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
        if self.stamps == "arrival":
            when = "stamped when each service update arrived (within %.2f s of the service's read, assumed)" % (
                ARRIVAL_DELAY_S
            )
        else:
            when = (
                "this jtop has no attach, so a value read here was sampled up to one %.1f s service interval "
                "earlier: stamped half an interval back, give or take as much" % (1.0 / self.nominal_rate_hz)
            )
        self.method = "jtop service, %s: instantaneous power (not jtop's running 'avg'), %s" % (what, when)

    def _power(self) -> Dict[str, Any]:
        if not self._jetson.is_alive():
            raise SensorError("the connection to the jtop service is closed")
        power = self._jetson.power
        if not isinstance(power, dict) or not power.get("rail") or "power" not in power.get("tot", {}):
            raise SensorError("jtop reports no power rails here (jetson-stats 4.x expected): %r" % (power,))
        return power

    def _on_update(self, jetson: Any) -> None:
        power = jetson.power
        if isinstance(power, dict):
            with self._lock:
                self._latest = (time.monotonic(), power)

    def read(self) -> PowerSample:
        with self._lock:
            latest = self._latest
        if latest is not None:
            if not self._jetson.is_alive():
                raise SensorError("the connection to the jtop service is closed")
            t, power = latest
        else:  # no update has arrived since we attached (or no attach): the value as it is now
            t, power = time.monotonic() - self.lag_s, self._power()
        if not power.get("rail") or "power" not in power.get("tot", {}):
            raise SensorError("jtop reports no power rails here (jetson-stats 4.x expected): %r" % (power,))
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
