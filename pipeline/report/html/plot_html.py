"""How a :class:`~pipeline.report.html.plots_common.Plot` sits in the page: a ``<div>`` for plotly, the
figure beside it as inert JSON (``<script type="application/json">``), and one small script at the
end of the page that draws every figure and switches the front scatter's axes.

The figures stay data, not code: the only script is :data:`BOOT_JS` (ours) and plotly.js.
"""

from __future__ import annotations

import html

from pipeline.report.html.plots_common import CONFIG, Plot, script_json

#: Draws each figure found in the page; for the front scatter, the two <select>s restyle x and y
#: from the per-figure values, axes, threshold lines and label positions computed in Python.
BOOT_JS = f"""(function () {{
  "use strict";
  var config = {script_json(CONFIG)};
  var specs = document.querySelectorAll("script.edgeprof-plot");
  for (var k = 0; k < specs.length; k++) {{
    var plot = JSON.parse(specs[k].textContent);
    Plotly.newPlot(plot.id, plot.figure.data, plot.figure.layout, config);
    if (plot.axes && plot.axes.figures) {{ bindAxes(plot); }}
  }}
  function bindAxes(plot) {{
    var xs = document.getElementById(plot.id + "-x"), ys = document.getElementById(plot.id + "-y");
    var missing = document.getElementById(plot.id + "-missing");
    function apply() {{
      var F = plot.axes.figures, X = F[xs.value], Y = F[ys.value];
      var pos = plot.axes.positions[xs.value + "|" + ys.value];
      var update = {{x: [], y: [], textposition: []}}, off = 0;
      plot.axes.traces.forEach(function (idx) {{
        update.x.push(idx.map(function (i) {{ return X.values[i]; }}));
        update.y.push(idx.map(function (i) {{ return Y.values[i]; }}));
        update.textposition.push(idx.map(function (i) {{ return pos[i]; }}));
        idx.forEach(function (i) {{ if (X.values[i] === null || Y.values[i] === null) {{ off++; }} }});
      }});
      Plotly.update(plot.id, update, {{
        xaxis: X.axis, yaxis: Y.axis,
        shapes: X.marks.x[0].concat(Y.marks.y[0]),
        annotations: X.marks.x[1].concat(Y.marks.y[1])
      }});
      missing.textContent = off ? off + " build(s) lack one of these two figures and are not plotted." : "";
    }}
    xs.addEventListener("change", apply);
    ys.addEventListener("change", apply);
    apply();
  }}
}})();"""


def plot_html(plot: Plot | None) -> str:
    """The figure's container and its JSON; "" for no plot."""
    if plot is None:
        return ""
    spec = {"id": plot.id, "figure": plot.figure, "axes": plot.axes}
    caption = f"<figcaption>{html.escape(plot.caption)}</figcaption>" if plot.caption else ""
    return (
        f'<figure class="plot-figure">{_picker(plot)}<div class="plot" id="{plot.id}"></div>'
        f'<script type="application/json" class="edgeprof-plot">{script_json(spec)}</script>{caption}</figure>'
    )


def _picker(plot: Plot) -> str:
    """The x and y <select>s of a plot with axis choices, the default pair selected."""
    if not plot.axes or plot.default_axes is None:
        return ""
    figures = plot.axes["figures"]

    def select(axis: str, chosen: str) -> str:
        options = "".join(
            f'<option value="{html.escape(k)}"{" selected" if k == chosen else ""}>{html.escape(f["label"])}</option>'
            for k, f in figures.items()
        )
        return f'<label>{axis} <select id="{plot.id}-{axis}" aria-label="{axis} axis">{options}</select></label>'

    x, y = plot.default_axes
    return (
        f'<div class="axis-picker">{select("x", x)}{select("y", y)}'
        f'<span class="missing" id="{plot.id}-missing"></span></div>'
    )
