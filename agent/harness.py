"""The benchmark harness: warm-up, timed window, percentiles, power over the window, accuracy.

Vocabulary follows MLPerf LoadGen: a *query* is one call to the runtime (one batch), a *sample* is
one inference. Warm-up is not counted. A window lasts at least ``min_duration_s`` and at least
``min_queries`` queries; throughput is samples divided by the wall time of the measured window.
Only the runtime call sits between the clock reads: inputs are prepared before the window opens.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from agent import conditions
from agent.errors import InferenceError, SensorError
from agent.protocol import AccuracyReport, LatencyStats, Measurement, PowerReport
from agent.quality import output_quality
from agent.runtimes.base import Runtime

#: How many distinct batches are prepared for the timed loop (cycled), so that caches do not see
#: the very same buffer every time, without copying data inside the window.
_PREPARED_BATCHES = 4
#: A window stops at max(10 x its minimum duration, 30 s) even if ``min_queries`` is not reached yet
#: (a slow model); the measurement is then marked invalid rather than run for ever.
_MAX_WINDOW_FACTOR = 10.0
_MAX_WINDOW_FLOOR_S = 30.0


class EvalSet:
    """Inputs (named by model input), optional labels and optional FP32 reference outputs."""

    def __init__(
        self,
        inputs: Dict[str, np.ndarray],
        labels: Optional[np.ndarray] = None,
        reference: Optional[np.ndarray] = None,
    ) -> None:
        sizes = {len(a) for a in inputs.values()}
        if len(sizes) != 1:
            raise InferenceError("evaluation inputs have different sample counts: %s" % sorted(sizes))
        self.size = sizes.pop()
        for name, arr in (("labels", labels), ("reference outputs", reference)):
            if arr is not None and len(arr) != self.size:
                raise InferenceError(
                    "evaluation data has %d samples but %d %s: the host packed a broken file"
                    % (self.size, len(arr), name)
                )
        self.inputs = inputs
        self.labels = labels
        self.reference = reference

    def batch(self, start: int, batch_size: int) -> Dict[str, np.ndarray]:
        """``batch_size`` consecutive samples from ``start``, wrapping around the set."""
        idx = (np.arange(batch_size) + start) % self.size
        return {name: np.ascontiguousarray(arr[idx]) for name, arr in self.inputs.items()}


def synthetic_eval_set(
    runtime: Runtime, samples: int = 64, seed: int = 0, shapes: Optional[Dict[str, List[int]]] = None
) -> EvalSet:
    """Random inputs shaped like the model's, for timing when no evaluation data was sent. A dynamic
    axis takes its size from ``shapes`` (the job's ``input_shapes``, batch first), else 1."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in runtime.inputs:
        given = list((shapes or {}).get(spec.name, []))[1:]
        dims = [
            d if isinstance(d, int) and d > 0 else (given[i] if i < len(given) else 1)
            for i, d in enumerate(spec.shape[1:])
        ]
        if np.issubdtype(spec.dtype, np.floating):
            arr = rng.standard_normal([samples] + dims).astype(spec.dtype)
        else:
            arr = rng.integers(0, 2, size=[samples] + dims).astype(spec.dtype)
        inputs[spec.name] = arr
    return EvalSet(inputs)


def fixed_batch_size(runtime: Runtime) -> Optional[int]:
    """The batch size a model's first input is fixed to, or None when the batch axis is dynamic."""
    for spec in runtime.inputs:
        if spec.shape and isinstance(spec.shape[0], int) and spec.shape[0] > 0:
            return spec.shape[0]
    return None


def latency_stats(latencies_s: List[float]) -> LatencyStats:
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        mean=float(ms.mean()),
        min=float(ms.min()),
        max=float(ms.max()),
        stdev=float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
    )


def run_window(
    runtime: Runtime,
    batches: List[Dict[str, np.ndarray]],
    min_duration_s: float,
    min_queries: int,
) -> Dict[str, Any]:
    """Time queries until both minimums are met. Returns latencies and the window's monotonic edges."""
    latencies = []
    deadline_s = max(min_duration_s * _MAX_WINDOW_FACTOR, _MAX_WINDOW_FLOOR_S)
    n = len(batches)
    infer = runtime.infer
    perf = time.perf_counter
    t0 = time.monotonic()
    start = perf()
    i = 0
    while True:
        q0 = perf()
        infer(batches[i % n])
        q1 = perf()
        latencies.append(q1 - q0)
        i += 1
        elapsed = q1 - start
        if (elapsed >= min_duration_s and i >= min_queries) or elapsed >= deadline_s:
            break
    t1 = time.monotonic()
    return {"latencies_s": latencies, "t0": t0, "t1": t1, "wall_s": perf() - start}


def warm_up(runtime: Runtime, batches: List[Dict[str, np.ndarray]], warmup_s: float) -> int:
    """Run untimed queries for ``warmup_s`` (at least one). Returns how many ran."""
    end = time.perf_counter() + warmup_s
    i = 0
    while True:
        runtime.infer(batches[i % len(batches)])
        i += 1
        if time.perf_counter() >= end:
            return i


def measure(
    runtime: Runtime,
    data: EvalSet,
    batch_size: int,
    warmup_s: float,
    min_duration_s: float,
    min_queries: int,
    sampler: Any = None,
    idle_w: Optional[float] = None,
    sysfs_root: Path = Path("/sys"),
) -> Measurement:
    """One measurement at one batch size; power from ``sampler.window`` when a sampler is given."""
    notes = []
    batches = [data.batch(i * batch_size, batch_size) for i in range(_PREPARED_BATCHES)]
    before = conditions.snapshot(sysfs_root)
    warm_up(runtime, batches, warmup_s)
    window = run_window(runtime, batches, min_duration_s, min_queries)
    after = conditions.snapshot(sysfs_root)
    condition_notes = conditions.compare(before, after)
    notes.extend(condition_notes)
    lat = window["latencies_s"]
    queries = len(lat)
    duration = float(window["wall_s"])
    samples = queries * batch_size
    valid = True
    if duration < min_duration_s or queries < min_queries:
        valid = False
        notes.append(
            "window too short: %d queries in %.2f s (minimum %d queries, %.1f s); the model is too slow "
            "for these settings" % (queries, duration, min_queries, min_duration_s)
        )
    stats = latency_stats(lat)
    if queries < 100:
        notes.append(
            "p99 from only %d queries is the interpolation of the slowest two or three: "
            "lengthen --min-duration for a dependable tail" % queries
        )
    if stats.p50 > 0 and stats.p99 > 5 * stats.p50:
        notes.append("high latency spread: p99 is %.1fx p50 (other load on the device?)" % (stats.p99 / stats.p50))

    power = None
    energy_per_inf = None
    inf_per_j = None
    if sampler is not None:
        try:
            power = _with_idle(sampler.window(window["t0"], window["t1"]), idle_w)
        except SensorError as exc:
            notes.append("no power figure for this window: %s" % exc)
        if power is not None and power.energy_j > 0:
            energy_per_inf = power.energy_j / samples
            inf_per_j = samples / power.energy_j
            if power.estimated:
                notes.append("power is an estimate (%s), not a measurement" % power.source)
    return Measurement(
        batch_size=batch_size,
        throughput_ips=samples / duration,
        latency_ms=stats,
        queries=queries,
        samples=samples,
        duration_s=duration,
        valid=valid,
        power=power,
        energy_j_per_inference=energy_per_inf,
        inferences_per_joule=inf_per_j,
        notes=notes,
        conditions_before=before,
        conditions_after=after,
        throttled=bool(condition_notes),
    )


def _with_idle(report: PowerReport, idle_w: Optional[float]) -> PowerReport:
    if idle_w is None or report.idle_w is not None:
        return report
    return dataclasses.replace(report, idle_w=idle_w)


def evaluate_accuracy(runtime: Runtime, data: EvalSet, batch_size: int, max_samples: int = 0) -> AccuracyReport:
    """Top-1 against labels, and agreement and cosine similarity against the FP32 reference outputs."""
    n = data.size if max_samples <= 0 else min(max_samples, data.size)
    outputs = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        # always a full batch (the last one wraps around): a model with a fixed batch axis accepts
        # nothing else; only the first ``size`` outputs are scored
        out = runtime.infer(data.batch(start, batch_size))[0][:size]
        outputs.append(np.asarray(out, dtype=np.float64).reshape(size, -1))
    figures = output_quality(np.concatenate(outputs, axis=0), data.labels, data.reference)
    return AccuracyReport(samples=n, **figures)
