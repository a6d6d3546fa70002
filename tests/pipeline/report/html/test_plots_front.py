"""The front scatter (pipeline/report/html/plots_front.py), as data: what each trace holds."""

from __future__ import annotations

from pipeline.report.html.plots_common import FRONT_COLOUR
from pipeline.report.html.plots_front import front_scatter

from .plot_sample import sample


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
