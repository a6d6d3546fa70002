"""The SVG chart engine (pipeline/report/html/charts.py), on its own: no records, no ranking."""

from __future__ import annotations

import re

from pipeline.report.html.charts import FRONT_COLOUR, LABEL_ALL_UP_TO, SLA_COLOUR, Axis, Chart, ChartPoint, render_svg


def point(x, y, kind="front", label="p", recommended=False, on_line=False):
    return ChartPoint(x=x, y=y, label=label, kind=kind, recommended=recommended, tip=f"{label}\n<tip>", on_line=on_line)


def chart(points, **kwargs):
    return Chart(points=points, title="T <1>", x_label="x (inf/J)", y_label="y (ms)", **kwargs)


def test_points_marks_and_escaped_text():
    svg = render_svg(
        chart([point(1, 1, label="a"), point(2, 3, kind="other", label="b"), point(3, 2, kind="unranked")])
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<g class="pt">') == 3
    assert "T &lt;1&gt;" in svg and "&lt;tip&gt;" in svg and "<tip>" not in svg
    assert 'r="5.5"' in svg  # the front's mark


def test_the_trade_off_line_joins_only_its_points_left_to_right():
    svg = render_svg(chart([point(3, 1, on_line=True), point(1, 0.5, on_line=True), point(2, 2)]))
    (line,) = re.findall(r'<polyline points="([^"]+)"', svg)
    xs = [float(pair.split(",")[0]) for pair in line.split()]
    assert len(xs) == 2 and xs == sorted(xs)
    assert "<polyline" not in render_svg(chart([point(1, 1, on_line=True)]))


def test_a_threshold_line_and_its_label():
    svg = render_svg(chart([point(1, 1), point(2, 2)], hline=(1.5, "SLA 1.5 ms")))
    assert SLA_COLOUR in svg and "SLA 1.5 ms" in svg and 'stroke-dasharray="6 4"' in svg


def test_the_recommendation_is_ringed_and_labelled_even_among_many():
    points = [point(i + 1, (i * 7) % 13 + 1, kind="other", label=f"p{i}") for i in range(LABEL_ALL_UP_TO + 10)]
    points.append(point(5.5, 3.3, label="best", recommended=True))
    svg = render_svg(chart(points))
    assert "★ best" in svg and f'r="10" fill="none" stroke="{FRONT_COLOUR}"' in svg
    assert "p0<" not in svg  # too many: later fronts are not labelled


def test_missing_figures_are_counted_and_an_empty_chart_says_why():
    svg = render_svg(chart([point(1, 1), point(None, 2)]))
    assert "1 not plotted (missing figures)" in svg
    empty = render_svg(chart([point(None, None)]))
    assert "No point has both figures (x (inf/J); y (ms))" in empty


def test_axes_go_logarithmic_only_for_wide_positive_spans():
    assert Axis.fit([1.0, 1000.0], allow_log=True).log
    assert not Axis.fit([1.0, 10.0], allow_log=True).log
    assert not Axis.fit([1.0, 1000.0], allow_log=False).log
    assert not Axis.fit([0.0, 1000.0], allow_log=True).log
    axis = Axis.fit([0.0, 10.0], allow_log=False)
    assert axis.lo < 0 < 10 < axis.hi and axis.ticks == sorted(axis.ticks) and 0 in axis.ticks
    assert axis.position(axis.lo, 0, 100) == 0 and axis.position(axis.hi, 0, 100) == 100
    flat = Axis.fit([5.0, 5.0], allow_log=False)
    assert flat.lo < 5 < flat.hi
