"""Background sampling of a power sensor, and the energy over a measured window.

``PowerSampler`` reads its sensor on a thread at the sensor's own rate (or a given one) and keeps the
timestamped readings (``time.monotonic()``, the clock the harness opens and closes its window on).
``window(t0, t1)`` then gives the figure over exactly ``[t0, t1]``:

- from an energy counter (RAPL, NVML total energy), the counter's value interpolated at both edges
  and differenced;
- from power readings, the trapezoid integral of the readings over the window, with the power at
  both edges interpolated from the readings either side.

A figure from too few readings is refused, not approximated. ``window`` raises ``SensorError`` when
the window is shorter than ``MIN_PERIODS`` sensor periods (or the sensor's own ``min_window_s``),
when readings do not reach both edges, when fewer than ``MIN_SAMPLES`` readings fall inside it, when
the readings inside achieved less than ``MIN_RATE_FRACTION`` of the sensor's nominal rate, or when a
gap of more than ``MAX_GAP_PERIODS`` periods breaks the series: a sensor that claims 10 Hz but
delivers a reading every 0.9 s gives a figure that is a guess between two points (seen: -15%), and
it is refused. The harness marks such a measurement invalid, with the reason.

Each figure is gross (``avg_w``, ``energy_j``) unless the sensor reads power above idle only;
:func:`with_idle` adds the idle figure and the above-idle figures. ``energy_uncertainty_j`` bounds
the error a reading's timestamp uncertainty allows at the two edges.

Typical use::

    with PowerSampler(discover()) as sampler:
        idle_w = sampler.measure_idle(2.0)
        t0 = time.monotonic(); run(); t1 = time.monotonic()
        report = sampler.window(t0, t1)

The sampler does not own its sensor: close the sensor yourself.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import threading
import time
from typing import Deque, Dict, Iterable, List, Optional, Sequence

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor
from agent.power.integrate import integrate_trapezoid, interpolate
from agent.protocol import PowerReport

#: Fewer readings than this inside the window make its figure invalid.
MIN_SAMPLES = 4
#: A window shorter than this many sensor periods is refused.
MIN_PERIODS = 5.0
#: The readings inside the window must come at no less than this share of the nominal rate.
MIN_RATE_FRACTION = 0.5
#: A hole in the readings longer than this many periods makes the window invalid.
MAX_GAP_PERIODS = 3.0
#: The thread gives up after this many failed reads in a row (the error is reported by ``window``).
MAX_CONSECUTIVE_FAILURES = 10
#: Readings older than this are dropped, so that a long-running agent does not grow without bound.
DEFAULT_HISTORY_S = 900.0


def report_for_window(
    samples: Sequence[PowerSample],
    t0: float,
    t1: float,
    sensor: PowerSensor,
    period_s: float,
) -> PowerReport:
    """The power figure over exactly ``[t0, t1]`` from ``samples`` (sorted by time).

    ``period_s`` is the sampling period the validity rules are measured in. Raises ``SensorError``
    when the readings cannot support a valid figure.
    """
    if not t1 > t0:
        raise ValueError("window end %r must be after its start %r" % (t1, t0))
    duration = t1 - t0
    min_duration = max(MIN_PERIODS * period_s, sensor.min_window_s)
    if duration < min_duration:
        raise SensorError(
            "window of %.3f s is shorter than %.3f s (%g periods of %s at %.3g Hz%s): too few samples "
            "makes the figure invalid, not approximate"
            % (
                duration,
                min_duration,
                MIN_PERIODS,
                sensor.source,
                1.0 / period_s,
                ", or its %.3g s minimum" % sensor.min_window_s if sensor.min_window_s else "",
            )
        )
    counters = [s for s in samples if s.energy_j is not None]
    powers = [s for s in samples if s.power_w is not None]
    use_counter = bool(counters)  # a counter, where the sensor has one, beats integrating power
    points = counters if use_counter else powers
    if not points:
        raise SensorError("the sampler holds no readings from %s" % sensor.source)
    if not _covers(points, t0, t1):
        first, last = points[0].t_monotonic_s, points[-1].t_monotonic_s
        raise SensorError(
            "readings from %s span [%.3f, %.3f] s but the window is [%.3f, %.3f] s: start the sampler "
            "before the window opens and keep it running until it closes" % (sensor.source, first, last, t0, t1)
        )
    # The readings that matter: the last one at or before t0, those inside, the first at or after t1.
    lo = max(i for i, s in enumerate(points) if s.t_monotonic_s <= t0)
    hi = min(i for i, s in enumerate(points) if s.t_monotonic_s >= t1)
    used = points[lo : hi + 1]
    inside = [s for s in used if t0 <= s.t_monotonic_s <= t1]
    gap = check_rate(inside, used, duration, sensor, period_s)
    ts = [s.t_monotonic_s for s in used]
    rails_w: Dict[str, float] = {}
    if use_counter:
        totals = [s.energy_j for s in used if s.energy_j is not None]
        energy_j = interpolate(ts, totals, t1) - interpolate(ts, totals, t0)
        edge_w = abs(_slope(ts, totals, t0)) + abs(_slope(ts, totals, t1))
        for label in _common(s.rails_energy_j for s in used):
            values = [s.rails_energy_j[label] for s in used]
            rails_w[label] = (interpolate(ts, values, t1) - interpolate(ts, values, t0)) / duration
    else:
        watts = [s.power_w for s in used if s.power_w is not None]
        energy_j = integrate_trapezoid(ts, watts, t0, t1)
        edge_w = abs(interpolate(ts, watts, t0)) + abs(interpolate(ts, watts, t1))
        for label in _common(s.rails_w for s in used):
            rails_w[label] = integrate_trapezoid(ts, [s.rails_w[label] for s in used], t0, t1) / duration
    span = inside[-1].t_monotonic_s - inside[0].t_monotonic_s
    achieved_hz = (len(inside) - 1) / span if span > 0 else 0.0
    uncertainty_s = float(sensor.timestamp_uncertainty_s)
    above_idle = bool(sensor.reads_above_idle)
    return PowerReport(
        avg_w=None if above_idle else energy_j / duration,
        source=sensor.source,
        estimated=sensor.estimated,
        samples=len(inside),
        rate_hz=achieved_hz,
        energy_j=None if above_idle else energy_j,
        method=sensor.method,
        rails_w=rails_w,
        above_idle_w=energy_j / duration if above_idle else None,
        energy_above_idle_j=energy_j if above_idle else None,
        idle_source="none: the readings are power above idle" if above_idle else "",
        nominal_rate_hz=1.0 / period_s,
        max_gap_s=gap,
        timestamp_uncertainty_s=uncertainty_s,
        # a reading's time off by up to u moves each edge's energy by up to u x the power there
        energy_uncertainty_j=uncertainty_s * edge_w,
    )


def check_rate(
    inside: Sequence[PowerSample], used: Sequence[PowerSample], duration: float, sensor: PowerSensor, period_s: float
) -> float:
    """The achieved-rate rules; returns the longest gap between the readings ``used``."""
    needed = max(MIN_SAMPLES, int(MIN_RATE_FRACTION * duration / period_s))
    ts = [s.t_monotonic_s for s in used]
    gap = max(b - a for a, b in zip(ts, ts[1:]))
    if len(inside) < needed:
        achieved = len(inside) / duration
        raise SensorError(
            "%d reading(s) from %s inside a %.3f s window (%.3g Hz achieved against the %.3g Hz it claims; at "
            "least %d needed): too few samples makes the figure invalid, not approximate"
            % (len(inside), sensor.source, duration, achieved, 1.0 / period_s, needed)
        )
    if gap > MAX_GAP_PERIODS * period_s:
        raise SensorError(
            "a %.3f s gap in the readings from %s (more than %g periods of %.3g s): the figure would be a guess"
            % (gap, sensor.source, MAX_GAP_PERIODS, period_s)
        )
    return gap


def with_idle(report: PowerReport, idle_w: Optional[float], idle_source: str, duration_s: float) -> PowerReport:
    """``report`` with its idle figure and the figures that follow from it: above-idle power and
    energy from a gross reading, or gross ones from an above-idle reading. Without ``idle_w`` the
    report keeps what it knows and ``idle_source`` says why the idle figure is missing."""
    if idle_w is None:
        return dataclasses.replace(report, idle_w=None, idle_source=idle_source or report.idle_source)
    if report.energy_j is not None:
        above = report.energy_j - idle_w * duration_s
        return dataclasses.replace(
            report, idle_w=idle_w, idle_source=idle_source, energy_above_idle_j=above, above_idle_w=above / duration_s
        )
    if report.energy_above_idle_j is not None:
        gross = report.energy_above_idle_j + idle_w * duration_s
        return dataclasses.replace(
            report, idle_w=idle_w, idle_source=idle_source, energy_j=gross, avg_w=gross / duration_s
        )
    return report


def _slope(ts: Sequence[float], values: Sequence[float], t: float) -> float:
    """The counter's rate (its power) on the segment around ``t``."""
    i = max(1, min(len(ts) - 1, bisect.bisect_left(ts, t)))
    dt = ts[i] - ts[i - 1]
    return (values[i] - values[i - 1]) / dt if dt > 0 else 0.0


def _covers(points: Sequence[PowerSample], t0: float, t1: float) -> bool:
    return points[0].t_monotonic_s <= t0 and points[-1].t_monotonic_s >= t1


def _common(dicts: Iterable[Dict[str, float]]) -> List[str]:
    """Labels present in every one of ``dicts``, in the order of the first."""
    it = iter(dicts)
    first = next(it, {})
    keep = set(first)
    for d in it:
        keep &= set(d)
    return [k for k in first if k in keep]


class PowerSampler:
    """Reads ``sensor`` on a background thread; ``window`` integrates over a measured window."""

    def __init__(
        self,
        sensor: PowerSensor,
        rate_hz: Optional[float] = None,
        history_s: float = DEFAULT_HISTORY_S,
    ) -> None:
        rate = float(rate_hz) if rate_hz is not None else float(sensor.nominal_rate_hz)
        if rate <= 0:
            raise ValueError("rate_hz must be > 0, got %r" % rate)
        self.sensor = sensor
        self.rate_hz = rate
        # The validity rules count periods of the slower of the sampling and the sensor's own update.
        self.period_s = 1.0 / min(rate, float(sensor.nominal_rate_hz))
        self._samples: Deque[PowerSample] = collections.deque(maxlen=int(history_s * rate) + 2)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._failure: Optional[BaseException] = None
        self.read_errors = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def samples(self) -> List[PowerSample]:
        """A copy of the readings held now, oldest first."""
        with self._cond:
            return list(self._samples)

    def start(self) -> PowerSampler:
        """Take one reading now (so a window opened right after is covered) and start the thread.

        Raises ``SensorError`` when that first reading fails."""
        if self.running:
            return self
        first = self.sensor.read()
        with self._cond:
            self._samples.append(first)
            self._failure = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgeprof-power-%s" % self.sensor.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread; the readings stay for ``window``. A read that hangs (a stuck bus) is left
        behind on its daemon thread rather than blocking the caller for good."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.period_s + 5.0)
        self._thread = None

    def __enter__(self) -> PowerSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic() + period
        failures = 0
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            try:
                sample = self.sensor.read()
            except Exception as exc:  # kept and reported by window(): a thread must not die silently
                failures += 1
                self.read_errors += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    with self._cond:
                        self._failure = exc
                        self._cond.notify_all()
                    return
            else:
                failures = 0
                with self._cond:
                    # a sensor that hands out its last update again (jtop between two service
                    # updates) gives the same time twice: keep one, so rates count real readings
                    if not self._samples or sample.t_monotonic_s > self._samples[-1].t_monotonic_s:
                        self._samples.append(sample)
                    self._cond.notify_all()
            next_t += period
            now = time.monotonic()
            if next_t < now - period:  # fell behind (a slow read): resume the rhythm, do not burst
                next_t = now

    def _wait_for_reading_after(self, t: float) -> None:
        """While running, wait (a few periods at most) for a reading at or after ``t``."""
        deadline = time.monotonic() + 3.0 / self.rate_hz + 0.2 + float(self.sensor.lag_s)
        with self._cond:
            while self.running and self._failure is None:
                if self._samples and self._samples[-1].t_monotonic_s >= t:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def window(self, t0: float, t1: float) -> PowerReport:
        """Average power and energy over exactly ``[t0, t1]`` (``time.monotonic()`` seconds).

        Raises ``SensorError`` when the readings are too few or do not cover the window."""
        self._wait_for_reading_after(t1)
        with self._cond:
            samples = list(self._samples)
            failure = self._failure
        try:
            return report_for_window(samples, t0, t1, self.sensor, self.period_s)
        except SensorError as exc:
            if failure is not None:
                raise SensorError(
                    "%s; the sampler stopped after %d failed reads in a row: %s"
                    % (exc, MAX_CONSECUTIVE_FAILURES, failure)
                ) from failure
            raise

    def measure_idle(self, duration_s: float) -> float:
        """Average power over ``duration_s`` seconds from now, while the caller runs nothing.

        Starts the sampler for the measurement if it is not running, and stops it again after."""
        started_here = not self.running
        if started_here:
            self.start()
        try:
            t0 = time.monotonic()
            time.sleep(duration_s)
            t1 = time.monotonic()
            gross = self.window(t0, t1).avg_w
            if gross is None:
                raise SensorError("%s reads power above idle only: it cannot measure idle power" % self.sensor.source)
            return gross
        finally:
            if started_here:
                self.stop()
