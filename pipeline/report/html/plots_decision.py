"""The decision charts: the roofline of each device measured with every build on it
(:func:`roofline_plot`) and the planner's configurations by cost per month (:func:`plan_plot`)."""

from __future__ import annotations

from typing import Any

from pipeline.numbers import finite, fmt
from pipeline.record import Record
from pipeline.report.html.plots_common import FRONT_COLOUR, OTHER_COLOUR, Plot, base_layout, esc, point_label
from pipeline.report.view import text
from pipeline.summary import RunSummary


def roofline_plot(summary: RunSummary) -> Plot | None:
    """The roofline of each (target, precision, power mode) measured, with each build on it."""
    records = [r for r in summary.records if _drawable_roofline(r)]
    if not records:
        return None
    data: list[dict[str, Any]] = []
    roofs: dict[tuple[str, str, str], tuple[float, float]] = {}
    for r in records:
        roof = r.roofline
        assert roof is not None
        # peak (op/s) and bandwidth (B/s) back from the bound: bound_ips × per-inference op or byte count
        if roof.bound == "memory":
            bandwidth = roof.bound_ips * roof.bytes_per_inference
            peak = bandwidth * roof.ridge_flop_per_byte
        else:
            peak = roof.bound_ips * roof.flops_per_inference
            bandwidth = peak / roof.ridge_flop_per_byte
        roofs.setdefault((text(r.target), roof.peak_precision, roof.power_mode), (peak, bandwidth))
    intensities = [r.roofline.intensity_flop_per_byte for r in records] + [  # type: ignore[union-attr]
        peak / bw for peak, bw in roofs.values()
    ]
    lo, hi = min(intensities) / 4, max(intensities) * 4
    for (target, precision, mode), (peak, bw) in roofs.items():
        ridge = peak / bw
        name = f"roof: {target} {precision}" + (f" ({mode})" if mode else "")
        data.append(
            {"type": "scatter", "mode": "lines", "name": esc(name),
             "x": [lo, ridge, hi], "y": [bw * lo / 1e9, peak / 1e9, peak / 1e9],
             "line": {"color": "#57606a", "width": 2},
             "hovertemplate": esc(f"{name}: peak {fmt(peak / 1e9)} G op/s, {fmt(bw / 1e9)} GB/s") + "<extra></extra>"}
        )  # fmt: skip
    tips = []
    for r in records:
        roof = r.roofline
        assert roof is not None
        tips.append(
            esc(f"{text(r.id)}: {fmt(roof.intensity_flop_per_byte)} op/B, "
               f"{fmt(r.throughput_ips * roof.flops_per_inference / 1e9)} G op/s measured = "
               f"{fmt(roof.fraction, 100)}% of its {roof.bound}-bound limit "
               f"({'estimated' if roof.estimated else 'sourced'} peak and bandwidth"
               f"{'; graph count is a lower bound' if roof.lower_bound_count else ''})")
        )  # fmt: skip
    rec_id = summary.recommendation.id if summary.recommendation else None
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "builds (measured throughput × counted ops)",
            "x": [r.roofline.intensity_flop_per_byte for r in records],  # type: ignore[union-attr]
            "y": [r.throughput_ips * r.roofline.flops_per_inference / 1e9 for r in records],  # type: ignore[union-attr]
            "text": [esc("★ " + point_label(r)) if r.id == rec_id else "" for r in records],
            "textposition": "middle right",
            "hovertext": tips,
            "hoverinfo": "text",
            "marker": {
                "size": [15 if r.id == rec_id else 9 for r in records],
                "symbol": ["star" if r.id == rec_id else "circle" for r in records],
                "color": [FRONT_COLOUR if r.id == rec_id else "#0969da" for r in records],
            },
        }
    )
    layout = base_layout(
        "Roofline: measured performance against the device's limits",
        "arithmetic intensity (op per byte moved) · log scale",
        "performance, G op/s · log scale",
    )
    layout["xaxis"]["type"] = "log"
    layout["yaxis"]["type"] = "log"
    layout["height"] = 440
    return Plot(
        id="plot-roofline",
        figure={"data": data, "layout": layout},
        caption="Operations are FLOP, integer operations for an INT8 build. Left of a roof's corner a build "
        "is memory-bound (bytes moved limit it), right of it compute-bound. The gap below the roof is what "
        "the runtime leaves unused; hover for the fraction.",
    )


def _drawable_roofline(r: Record) -> bool:
    """Every figure the chart places is a positive finite number (a log-log chart places no other)."""
    roof = r.roofline
    if roof is None:
        return False
    figures = (
        roof.intensity_flop_per_byte,
        roof.ridge_flop_per_byte,
        roof.bound_ips,
        roof.flops_per_inference,
        roof.bytes_per_inference,
        r.throughput_ips,
    )
    return all((v := finite(f)) is not None and v > 0 for f in figures)


def plan_plot(summary: RunSummary) -> Plot | None:
    """The planner's configurations that meet the SLA, by cost per month, the cheapest marked."""
    plan = summary.plan
    if plan is None:
        return None
    options = [o for o in plan.options if o.feasible and finite(o.usd_per_month) is not None]
    if not options:
        return None
    names = [esc(o.label) for o in options]
    cheapest = plan.cheapest
    tips = [
        esc(f"{o.label}: {o.devices} device(s), max batch {o.max_batch}, p99 {fmt(o.p99_ms)} ms with queueing, "
           f"{fmt(o.utilisation, 100)}% busy, {fmt(o.usd_per_million)} USD per million [{o.kind}]"
           + (f"; assumes {o.assumption}" if o.assumption else ""))
        for o in options
    ]  # fmt: skip
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "USD per month",
            "x": [o.usd_per_month for o in options],
            "y": names,
            "text": [f"{fmt(o.usd_per_month)} USD · {o.devices} dev" for o in options],
            "textposition": "auto",
            "hovertext": tips,
            "hoverinfo": "text",
            "marker": {
                "color": [FRONT_COLOUR if o is cheapest else OTHER_COLOUR for o in options],
                "pattern": {"shape": ["/" if o.kind == "projected" else "" for o in options]},
            },
        }
    ]
    workload = plan.workload
    layout = base_layout(
        f"Planner: cost per month of each configuration that serves {fmt(workload.rate_per_s)} req/s "
        f"at p99 ≤ {fmt(workload.p99_ms)} ms",
        "USD per month (the whole fleet)",
        "",
    )
    layout["yaxis"].update({"automargin": True, "autorange": "reversed", "title": {"text": ""}})
    layout["height"] = 130 + 28 * len(options)
    layout["showlegend"] = False
    return Plot(
        id="plot-plan",
        figure={"data": data, "layout": layout},
        caption="Red: the cheapest configuration that meets the SLA (queueing included); hatched: "
        "projected onto a target that was not measured.",
    )
