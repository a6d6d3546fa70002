"""The latency and power charts (pipeline/report/html/plots_measured.py), as data."""

from __future__ import annotations

from pipeline.report.html.plots_measured import latency_plot, power_plot

from ...sample_results import record, summary
from .plot_sample import sample


def test_latency_and_power_plots():
    run = sample()
    latency = latency_plot(run)
    assert latency is not None
    span, p50, p90, p99 = latency.figure["data"]
    assert span["name"] == "min – max" and len(span["x"]) == 3 * len(run.records)
    assert p99["x"] == [4.0, 2.3, 7.5] and latency.figure["layout"]["shapes"][0]["x0"] == 5.0
    power = power_plot(run)
    assert power is not None and "no power trace was recorded" in power.caption
    shapes = power.figure["data"][0]["marker"]["pattern"]["shape"]
    assert shapes == ["", "/", "/"]  # the estimated ones hatched
    assert power_plot(summary([record("a", power=False)])) is None
