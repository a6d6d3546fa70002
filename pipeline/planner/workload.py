"""The workload a deployment must serve: an arrival rate (Poisson) or a recorded trace, and the
end-to-end p99 it must meet, queueing included.

Rates are written as the user thinks of them, ``600/min``, ``10/s``, ``36000/h`` or a bare number of
requests per second. A trace is a text file of arrival times in seconds, one per line (``#`` starts a
comment; a CSV's first column is read, a header line is skipped).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.numbers import format_number

#: Per-unit divisors to requests per second.
_UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600.0),
}
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?:/\s*([a-z]+))?\s*$", re.IGNORECASE)
#: A trace longer than this is refused: the batcher simulation is pure Python.
MAX_TRACE_ARRIVALS = 200_000


def parse_rate(text: str, flag: str = "--rate") -> float:
    """Requests per second from ``600/min``, ``10/s``, ``36000/h`` or ``10``; ValueError otherwise."""
    match = _RATE.match(str(text))
    unit = (match.group(2) or "s").lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"{flag} takes a rate such as 600/min, 10/s or 36000/h, not {text!r}")
    value = float(match.group(1)) / _UNITS[unit]
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{flag} must be a positive rate, not {text!r}")
    return value


def describe_rate(per_s: float) -> str:
    """``10 requests/min (0.167/s)`` for small rates, ``120 requests/s`` for large ones."""
    if per_s < 1:
        return f"{format_number(per_s * 60)} requests/min ({format_number(per_s)}/s)"
    return f"{format_number(per_s)} requests/s"


def load_trace(path: Path) -> np.ndarray:
    """Arrival times (seconds from the first arrival, sorted) from a trace file; ValueError naming
    the line at fault and the format expected."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"--trace {path}: cannot read it ({exc.strerror or exc})") from None
    times = []
    for number, line in enumerate(lines, 1):
        cell = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not cell:
            continue
        try:
            value = float(cell)
        except ValueError:
            if not times:  # a CSV header
                continue
            raise ValueError(
                f"--trace {path}, line {number}: {cell!r} is not a time in seconds; give one arrival time per line"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"--trace {path}, line {number}: {cell!r} is not a finite time in seconds")
        times.append(value)
    if len(times) < 2:
        raise ValueError(f"--trace {path}: needs at least two arrival times (seconds, one per line)")
    if len(times) > MAX_TRACE_ARRIVALS:
        raise ValueError(
            f"--trace {path}: {len(times):,} arrivals is more than the simulation takes "
            f"({MAX_TRACE_ARRIVALS:,}); pass a shorter stretch of the trace, its busiest hour say"
        )
    arrivals = np.sort(np.asarray(times, dtype=float))
    return arrivals - arrivals[0]


@dataclass(frozen=True)
class Workload:
    """What must be served: ``rate_per_s`` on average, each request within ``p99_ms`` end to end.

    ``trace`` (arrival times, s) replaces Poisson arrivals when given, and its mean rate is the rate;
    ``peak_rate_per_s`` is the busiest rate to size an always-on fleet for (the trace's busiest
    ``window_s`` when a trace is given). ``budget_usd_per_month`` bounds what a configuration may cost.
    """

    rate_per_s: float
    p99_ms: float
    trace: np.ndarray | None = None
    trace_source: str | None = None
    peak_rate_per_s: float | None = None
    window_s: float = 60.0
    budget_usd_per_month: float | None = None

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)):
            raise ValueError(f"the rate must be positive requests per second, not {self.rate_per_s!r}")
        if not (self.p99_ms > 0 and math.isfinite(self.p99_ms)):
            raise ValueError(f"--p99-ms must be a positive number of milliseconds, not {self.p99_ms!r}")
        if self.peak_rate_per_s is not None and self.peak_rate_per_s < self.rate_per_s:
            raise ValueError("--peak-rate must be at least the average --rate")
        if self.budget_usd_per_month is not None and not self.budget_usd_per_month > 0:
            raise ValueError(f"--budget must be a positive number of USD per month, not {self.budget_usd_per_month!r}")
        if not self.window_s > 0:
            raise ValueError(f"the peak window must be a positive number of seconds, not {self.window_s!r}")

    @classmethod
    def from_trace(cls, arrivals: np.ndarray, p99_ms: float, source: str, **kwargs: object) -> Workload:
        span = float(arrivals[-1] - arrivals[0])
        rate = (len(arrivals) - 1) / span if span > 0 else float("inf")
        return cls(rate_per_s=rate, p99_ms=p99_ms, trace=arrivals, trace_source=source, **kwargs)  # type: ignore[arg-type]

    @property
    def arrivals_kind(self) -> str:
        return f"the recorded trace {self.trace_source}" if self.trace is not None else "Poisson arrivals"

    def window_rates(self) -> list[float]:
        """Requests per second in each ``window_s`` window of the trace (the stated rates otherwise)."""
        if self.trace is None:
            return [self.rate_per_s] if self.peak_rate_per_s is None else [self.rate_per_s, self.peak_rate_per_s]
        edges = np.arange(0.0, float(self.trace[-1]) + self.window_s, self.window_s)
        counts, _ = np.histogram(self.trace, bins=edges)
        return [float(c) / self.window_s for c in counts]

    def describe(self) -> str:
        text = (
            f"{describe_rate(self.rate_per_s)} ({self.arrivals_kind}), p99 ≤ {format_number(self.p99_ms)} ms end to end"
        )
        if self.peak_rate_per_s is not None:
            text += f", peak {describe_rate(self.peak_rate_per_s)}"
        if self.budget_usd_per_month is not None:
            text += f", budget ${format_number(self.budget_usd_per_month)}/month"
        return text
