"""Records for the planner tests: stated latencies on a named target, with the roofline figures that
derive_figures works out from a generated model's real graph count."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agent.protocol import LatencyStats, PowerReport
from pipeline.cost import CostOptions
from pipeline.derive import derive_figures, load_target_profiles
from pipeline.record import Record
from pipeline.roofline import count_builds

from ..passes.models import build_tiny_cnn
from ..sample_results import record

PROFILES = load_target_profiles()


def latency(ms: float, p99: float | None = None) -> LatencyStats:
    """A query time of ``ms`` (p99 ``p99``, default the same: a constant service time)."""
    tail = ms if p99 is None else p99
    return LatencyStats(p50=ms, p90=tail, p99=tail, mean=ms, min=ms, max=tail, stdev=0.0)


def measured(
    variant: str,
    batch: int,
    ms: float,
    *,
    target: str = "raspberry-pi-5",
    device: str = "pi-01",
    watts: float = 6.0,
    p99: float | None = None,
    loss: float = 0.0,
    precision: str = "fp32",
) -> Record:
    """One measured record: ``batch`` samples per query in ``ms`` (so throughput batch / ms), ``watts``
    measured on INA3221-like hardware, no idle reading (the profile's idle figure applies)."""
    base = record(variant, batch=batch, device=device, tput=batch / (ms / 1000.0), loss=loss, precision=precision)
    power = PowerReport(
        avg_w=watts, source="ina3221:VDD_IN", estimated=False, samples=200, rate_hz=100.0, energy_j=watts * 2
    )
    return dataclasses.replace(base, target=target, latency_ms=latency(ms, p99), power=power)


def tiny_cnn_counts(folder: Path, variants: tuple[str, ...] = ("fp32",), batches=(1, 8)) -> dict:
    """The real graph count of the tiny test CNN, for each variant name."""
    path = build_tiny_cnn(folder / "tiny.onnx")
    return count_builds([(v, "onnx", path) for v in variants], path, batches)


def with_figures(records: list[Record], counts: dict, options: CostOptions | None = None) -> list[Record]:
    return derive_figures(records, PROFILES, counts, options or CostOptions())
