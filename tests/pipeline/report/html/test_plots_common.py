"""What every chart shares (pipeline/report/html/plots_common.py): the axis range and the page's JSON."""

from __future__ import annotations

import json

from pipeline.report.html.plots_common import axis_range, script_json


def test_a_flat_zero_loss_gets_a_range_above_zero_not_minus_one_to_one():
    kind, lo, hi = axis_range([0.0, 0.0, 0.0], None)
    assert kind == "linear" and -0.1 <= lo < 0 and hi >= 1
    kind, lo, hi = axis_range([0.0, 0.0], (1.0, "max loss 1 pp"))  # the budget line stays in view
    assert -0.1 <= lo < 0 and hi > 1
    kind, lo, hi = axis_range([1.0, 2.0, 500.0], None)
    assert kind == "log" and lo < 0 < 2.69 < hi  # log10 units
    kind, lo, hi = axis_range([5.0, 10.0], None)
    assert kind == "linear" and lo < 5 and hi > 10


def test_script_json_cannot_close_the_script_element():
    text = script_json({"a": "</script><script>alert(1)</script>"})
    assert "<" not in text and ">" not in text
    assert json.loads(text)["a"] == "</script><script>alert(1)</script>"
