"""The report's plotly figures (pipeline/report/html/plots.py), as data: what each trace holds."""

from __future__ import annotations

import dataclasses
import json

from pipeline.report.html.plots import (
    FRONT_COLOUR,
    AxisFigure,
    _box,
    _overlap,
    axis_figures,
    axis_range,
    front_scatter,
    label_positions,
    latency_plot,
    plan_plot,
    power_plot,
    roofline_plot,
    script_json,
)

from ...sample_results import record, summary
from ..decision_run import decision_run


def sample():
    return summary(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100, precision="fp32", estimated=False),
            record("int8", ipj=430, loss=0.003, p99=2.3, tput=4210),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200),
        ],
        sla=5.0,
    )


def test_a_flat_zero_loss_gets_a_range_above_zero_not_minus_one_to_one():
    kind, lo, hi = axis_range([0.0, 0.0, 0.0], None)
    assert kind == "linear" and -0.1 <= lo < 0 and hi >= 1
    kind, lo, hi = axis_range([0.0, 0.0], (1.0, "max loss 1 pp"))  # the budget line stays in view
    assert -0.1 <= lo < 0 and hi > 1
    kind, lo, hi = axis_range([1.0, 2.0, 500.0], None)
    assert kind == "log" and lo < 0 < 2.69 < hi  # log10 units
    kind, lo, hi = axis_range([5.0, 10.0], None)
    assert kind == "linear" and lo < 5 and hi > 10


def test_the_axis_choices_carry_units_thresholds_and_loss_in_points():
    run = sample()
    figures = {f.key: f for f in axis_figures(run)}
    assert {"inferences_per_joule", "accuracy_loss_abs", "latency_p99_ms", "throughput_ips"} <= set(figures)
    assert figures["accuracy_loss_abs"].values == (0.0, 0.3, 0.6)
    assert figures["latency_p99_ms"].threshold == (5.0, "SLA 5 ms")
    # int8-dynamic's p99 misses the 5 ms SLA: it has no throughput *at* the p99 target
    assert figures["throughput_at_sla_ips"].values == (2100, 4210, None)
    assert figures["inferences_per_joule"].label == "inferences per joule, inf/J (some power estimated)"


def test_the_front_scatter_puts_each_record_in_one_trace_with_its_full_record_on_hover():
    run = sample()
    plot = front_scatter(run)
    assert plot is not None and plot.default_axes == ("inferences_per_joule", "accuracy_loss_abs")
    traces = plot.figure["data"]
    names = [t["name"] for t in traces]
    assert names[0] == "★ recommended" and len(traces[0]["x"]) == 1
    assert sorted(i for idx in plot.axes["traces"] for i in idx) == [0, 1, 2]
    assert sum(len(t["x"]) for t in traces) == len(run.records)
    rec = traces[0]
    assert rec["x"] == [430] and rec["y"] == [0.3] and rec["marker"]["color"] == FRONT_COLOUR
    hover = rec["hovertext"][0]
    for part in ("int8/local-myhost/b8", "onnxruntime 1.32.0", "batch 8", "device local-myhost",
                 "inferences per joule, inf/J (some power estimated): 430 [estimated]",
                 "p99 latency, ms: 2.3 [measured]", "front 1"):  # fmt: skip
        assert part in hover, part
    unranked = next(t for t in traces if t["name"].startswith("not ranked"))
    assert unranked["text"] == [""]  # only the front and the recommendation are labelled
    assert "not ranked: p99 7.5 ms exceeds the 5 ms SLA" in unranked["hovertext"][0]
    # the page's axis switch has every pair's label positions and each axis's threshold marks
    assert len(plot.axes["positions"]) == len(plot.axes["figures"]) ** 2
    shapes, notes = plot.axes["figures"]["latency_p99_ms"]["marks"]["y"]
    assert shapes[0]["y0"] == 5.0 and notes[0]["text"] == "SLA 5 ms"


def test_labels_of_close_front_points_do_not_overlap():
    x = AxisFigure(key="x", label="x", better="higher", values=(100.0, 101.0, 102.0, 300.0))
    y = AxisFigure(key="y", label="y", better="lower", values=(0.50, 0.51, 0.49, 0.1))
    labels = ["int8-static/b8", "int8-dynamic/b8", "fp16/b8", "fp32/b8"]
    positions = label_positions(x, y, {0, 1, 2, 3}, labels)
    assert len(set(positions[:3])) == 3  # three close points, three different spots

    def pixel(v, axis):
        kind, lo, hi = axis_range(axis.values, None)
        return (v - lo) / (hi - lo)

    boxes = [
        _box(positions[i], pixel(x.values[i], x) * 560, (1 - pixel(y.values[i], y)) * 330, 6.6 * len(labels[i]))
        for i in range(3)
    ]
    assert all(_overlap(a, b) == 0 for k, a in enumerate(boxes) for b in boxes[k + 1 :])


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


def test_roofline_and_plan_plots_from_a_run_with_every_decision_figure(tmp_path):
    run = decision_run(tmp_path)
    roof = roofline_plot(run)
    assert roof is not None
    builds = roof.figure["data"][-1]
    with_roof = [r for r in run.records if r.roofline is not None]
    for r, y in zip(with_roof, builds["y"], strict=True):
        assert abs(y - r.throughput_ips * r.roofline.flops_per_inference / 1e9) < 1e-9
    lines = [t for t in roof.figure["data"] if t["name"].startswith("roof:")]
    assert lines and all(t["y"][1] == t["y"][2] for t in lines)  # flat beyond the ridge
    # a build whose graph count gave no ops cannot sit on a log-log chart: left off, not NaN in the JSON
    broken = dataclasses.replace(
        with_roof[0], roofline=dataclasses.replace(with_roof[0].roofline, flops_per_inference=0.0)
    )
    partial = roofline_plot(dataclasses.replace(run, records=(broken, *run.records[1:])))
    assert partial is not None and len(partial.figure["data"][-1]["x"]) == len(with_roof) - 1
    script_json(partial.figure)  # raises on NaN or infinity
    plan = plan_plot(run)
    assert plan is not None and run.plan is not None
    bars = plan.figure["data"][0]
    cheapest = bars["y"].index(run.plan.cheapest.label)
    assert bars["marker"]["color"][cheapest] == FRONT_COLOUR
    assert "req/s at p99 ≤ 50 ms" in plan.figure["layout"]["title"]["text"]


def test_script_json_cannot_close_the_script_element():
    text = script_json({"a": "</script><script>alert(1)</script>"})
    assert "<" not in text and ">" not in text
    assert json.loads(text)["a"] == "</script><script>alert(1)</script>"
