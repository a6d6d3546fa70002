"""The front scatter's axis choices (pipeline/report/html/plots_front_axes.py)."""

from __future__ import annotations

from pipeline.report.html.plots_front_axes import axis_figures

from .plot_sample import sample


def test_the_axis_choices_carry_units_thresholds_and_loss_in_points():
    run = sample()
    figures = {f.key: f for f in axis_figures(run)}
    assert {"inferences_per_joule", "accuracy_loss_abs", "latency_p99_ms", "throughput_ips"} <= set(figures)
    assert figures["accuracy_loss_abs"].values == (0.0, 0.3, 0.6)
    assert figures["latency_p99_ms"].threshold == (5.0, "SLA 5 ms")
    # int8-dynamic's p99 misses the 5 ms SLA: it has no throughput *at* the p99 target
    assert figures["throughput_at_sla_ips"].values == (2100, 4210, None)
    assert figures["inferences_per_joule"].label == "inferences per joule, inf/J (some power estimated)"
