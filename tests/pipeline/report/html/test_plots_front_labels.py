"""The front labels' placement (pipeline/report/html/plots_front_labels.py)."""

from __future__ import annotations

from pipeline.report.html.plots_common import axis_range
from pipeline.report.html.plots_front_axes import AxisFigure
from pipeline.report.html.plots_front_labels import _box, _overlap, label_positions


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
