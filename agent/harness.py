"""The benchmark harness: one measurement = warm-up, a timed window, its figures and its verdict.

Vocabulary follows MLPerf LoadGen: a *query* is one call to the runtime (one batch), a *sample* is
one inference. Warm-up is not counted. The window itself is :mod:`agent.window` (by duration,
extended toward a p99 that is a measurement; or by a count of queries; one or several in flight);
throughput is samples divided by its wall time. Around it the harness reads the device's conditions,
the CPU time of the worker and of everything else on its CPUs, and the power over exactly the
window; :mod:`agent.validity` judges the lot. Accuracy is scored at the window's own batch size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from agent import conditions, window
from agent.errors import AgentError, InferenceError, SensorError
from agent.power.sampler import with_idle
from agent.proc_stats import CPUAccount, CPUSnapshot, memory_use_mib
from agent.protocol import AccuracyReport, LatencyStats, LayerTime, Measurement, MemoryUse, PowerReport
from agent.quality import output_quality
from agent.runtimes.base import Runtime
from agent.validity import P99_MIN_QUERIES, judge, notes_for

#: How many distinct batches are prepared for the timed loop (cycled), so that caches do not see
#: the very same buffer every time, without copying data inside the window.
_PREPARED_BATCHES = 4
#: Bounds on the queries of a layer profile (a separate, profiled pass after the window).
_PROFILE_MIN_QUERIES = 3
_PROFILE_MAX_QUERIES = 200


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
    """Time queries until both minimums are met (no p99 extension): the window's latencies and edges."""
    w = window.run_window(runtime.infer, batches, window.WindowPlan.build(min_duration_s, min_queries, 0))
    return {"latencies_s": w.latencies_s, "t0": w.t0, "t1": w.t1, "wall_s": w.wall_s}


def warm_up(runtime: Runtime, batches: List[Dict[str, np.ndarray]], warmup_s: float) -> int:
    """Run untimed queries for ``warmup_s`` (at least one). Returns how many ran."""
    return window.warm_up(runtime.infer, batches, warmup_s)


@dataclasses.dataclass(frozen=True)
class WindowSettings:
    """How one window is run: warm-up, its minimums, by duration or by ``iterations`` (queries), how
    many queries in flight, and the longest it may last (the job's deadline may shorten it)."""

    warmup_s: float = 0.5
    min_duration_s: float = 2.0
    min_queries: int = 50
    iterations: int = 0
    concurrency: int = 1
    max_window_s: Optional[float] = None
    p99_queries: int = P99_MIN_QUERIES


@dataclasses.dataclass(frozen=True)
class IdlePower:
    """The idle figure a job measured (or assumed) before its first window, and where it came from."""

    watts: Optional[float]
    source: str


def measure(
    runtime: Runtime,
    data: EvalSet,
    batch_size: int,
    warmup_s: float = 0.5,
    min_duration_s: float = 2.0,
    min_queries: int = 50,
    sampler: Any = None,
    idle_w: Optional[float] = None,
    sysfs_root: Path = Path("/sys"),
    *,
    settings: Optional[WindowSettings] = None,
    idle: Optional[IdlePower] = None,
    cpu_account: Optional[CPUAccount] = None,
    accuracy_samples: Optional[int] = None,
    profile_s: float = 0.0,
    on_phase: Optional[Callable[[str], None]] = None,
) -> Measurement:
    """One measurement at one batch size: power from ``sampler.window`` when a sampler is given,
    validity from :mod:`agent.validity`, accuracy at this batch size when ``accuracy_samples`` is
    given (0 = the whole set), and a layer profile of about ``profile_s`` seconds of queries.
    ``on_phase(name)`` is told each phase as it starts (agent.protocol.progress.PHASES)."""
    phase = on_phase or (lambda name: None)
    settings = settings or WindowSettings(warmup_s, min_duration_s, min_queries)
    if idle is None:
        idle = IdlePower(idle_w, "given by the caller" if idle_w is not None else "")
    cpu_account = cpu_account or _cpu_account()
    batches = [data.batch(i * batch_size, batch_size) for i in range(_PREPARED_BATCHES)]
    plan = window.WindowPlan.build(
        settings.min_duration_s,
        settings.min_queries,
        settings.p99_queries,
        iterations=settings.iterations,
        max_duration_s=settings.max_window_s,
    )
    before = conditions.snapshot(sysfs_root)
    phase("warm-up")
    window.warm_up(runtime.infer, batches, settings.warmup_s)
    phase("measuring")
    cpu_before = _cpu_snapshot(cpu_account)
    if settings.concurrency > 1:
        times = runtime.run_concurrent(batches, settings.concurrency, plan)
    else:
        times = window.run_window(runtime.infer, batches, plan)
    cpu_after = _cpu_snapshot(cpu_account)
    after = conditions.snapshot(sysfs_root)
    throttle_notes = conditions.compare(before, after)
    lat = times.latencies_s
    duration = float(times.wall_s)
    samples = len(lat) * batch_size
    stats = latency_stats(lat)
    power, refused = _power_over(sampler, times, idle)
    validity = judge(
        window_s=duration,
        queries=len(lat),
        min_queries=plan.min_queries,
        min_duration_s=plan.min_duration_s,
        stats=stats,
        throttle_notes=throttle_notes,
        power=power,
        power_refused=refused,
        cpu=CPUAccount.between(cpu_before, cpu_after) if cpu_before and cpu_after else None,
    )
    notes = notes_for(validity, stats)
    if power is not None and power.estimated:
        notes.append("power is an estimate (%s), not a measurement" % power.source)
    accuracy = None
    if accuracy_samples is not None:
        phase("accuracy")
        try:
            accuracy = evaluate_accuracy(runtime, data, batch_size, accuracy_samples)
        except InferenceError as exc:
            notes.append("accuracy not measured at batch %d: %s" % (batch_size, exc))
    profile: List[LayerTime] = []
    if profile_s > 0:
        phase("layer profile")
        queries = int(min(_PROFILE_MAX_QUERIES, max(_PROFILE_MIN_QUERIES, profile_s / max(stats.mean / 1e3, 1e-6))))
        try:
            profile = runtime.layer_profile(batches, queries)
        except InferenceError as exc:
            notes.append("no layer profile: %s" % exc)
    return Measurement(
        batch_size=batch_size,
        throughput_ips=samples / duration,
        latency_ms=stats,
        queries=len(lat),
        samples=samples,
        duration_s=duration,
        valid=validity.valid,
        power=power,
        energy_j_per_inference=_per(power.energy_j if power else None, samples),
        inferences_per_joule=_per_joule(power.energy_j if power else None, samples),
        notes=notes,
        conditions_before=before,
        conditions_after=after,
        throttled=bool(throttle_notes),
        validity=validity,
        energy_above_idle_j_per_inference=_per(power.energy_above_idle_j if power else None, samples),
        inferences_per_joule_above_idle=_per_joule(power.energy_above_idle_j if power else None, samples),
        accuracy=accuracy,
        concurrency=times.concurrency,
        input_shapes={name: [int(d) for d in arr.shape] for name, arr in batches[0].items()},
        layer_profile=profile,
        memory=memory_use(runtime),
    )


def memory_use(runtime: Runtime) -> MemoryUse:
    """The worker's resident set and its high-water mark now, and the runtime's device memory."""
    rss = memory_use_mib()
    return MemoryUse(
        rss_mib=rss.get("rss_mib"), peak_rss_mib=rss.get("peak_rss_mib"), device_mib=runtime.device_memory_mib()
    )


def _power_over(sampler: Any, times: window.WindowTimes, idle: IdlePower) -> Tuple[Optional[PowerReport], str]:
    """The window's power figure with its idle figures, or None and why it was refused ("" when
    there is no sampler at all)."""
    if sampler is None:
        return None, ""
    try:
        report = sampler.window(times.t0, times.t1)
    except SensorError as exc:
        return None, str(exc)
    return with_idle(report, idle.watts, idle.source, times.t1 - times.t0), ""


def _per(energy_j: Optional[float], samples: int) -> Optional[float]:
    return energy_j / samples if energy_j is not None and energy_j > 0 and samples else None


def _per_joule(energy_j: Optional[float], samples: int) -> Optional[float]:
    return samples / energy_j if energy_j is not None and energy_j > 0 else None


def _cpu_account() -> Optional[CPUAccount]:
    try:
        account = CPUAccount()
        account.snapshot()
        return account
    except AgentError:  # no /proc (not Linux): no foreign-load figure
        return None


def _cpu_snapshot(account: Optional[CPUAccount]) -> Optional[CPUSnapshot]:
    if account is None:
        return None
    try:
        return account.snapshot()
    except AgentError:
        return None


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
