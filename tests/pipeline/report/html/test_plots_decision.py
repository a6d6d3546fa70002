"""The roofline and planner charts (pipeline/report/html/plots_decision.py), as data."""

from __future__ import annotations

import dataclasses

from pipeline.report.html.plots_common import FRONT_COLOUR, script_json
from pipeline.report.html.plots_decision import plan_plot, roofline_plot

from ..decision_run import decision_run


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
