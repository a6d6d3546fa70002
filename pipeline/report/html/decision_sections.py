"""The HTML page's plain sections on the decision: how it was made (rule, budget, figure kinds,
per-target picks), cost per inference with its inputs, the roofline, and the planner's answer.

The figures are laid out as text and tables from :mod:`pipeline.report.decision_view`, the same
strings the terminal report prints; the roofline and the planner also get a chart (:mod:`.plots`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pipeline.report.decision_view import (
    PLAN_COLUMNS,
    budget_line,
    cost_lines,
    kinds_line,
    per_target_lines,
    plan_lines,
    plan_table,
    roofline_lines,
    rule_line,
)
from pipeline.report.html.plot_html import plot_html
from pipeline.report.html.plots_decision import plan_plot, roofline_plot
from pipeline.summary import RunSummary


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _list(lines: Sequence[str]) -> str:
    """Lines as a list; a line indented by two spaces nests under the one before."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("  ") and groups:
            groups[-1][1].append(line.strip())
        else:
            groups.append((line, []))
    items = []
    for head, children in groups:
        nested = "".join(f"<li>{_e(c)}</li>" for c in children)
        items.append(f"<li>{_e(head)}" + (f'<ul class="plain inputs">{nested}</ul>' if nested else "") + "</li>")
    return f'<ul class="plain">{"".join(items)}</ul>'


def decision(summary: RunSummary) -> str:
    """How the recommendation was made, and each target's own pick."""
    lines = [rule_line(summary), budget_line(summary), kinds_line(summary)]
    targets = per_target_lines(summary)
    body = _list(lines)
    if targets:
        body += "<h3>Best per target</h3>" + _list(targets)
    return f'<section id="decision"><h2>How the recommendation was made</h2>{body}</section>'


def cost(summary: RunSummary) -> str:
    return f'<section id="cost"><h2>Cost per inference</h2>{_list(cost_lines(summary))}</section>'


def roofline(summary: RunSummary) -> str:
    return (
        '<section id="roofline"><h2>Roofline: what limits each build</h2>'
        f"{_list(roofline_lines(summary))}{plot_html(roofline_plot(summary))}</section>"
    )


def plan(summary: RunSummary) -> str:
    lines = plan_lines(summary)
    if not lines:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for _, h in PLAN_COLUMNS)
    body = "".join(
        f'<tr class="{"rec" if row["verdict"] == "cheapest" else "muted" if row["verdict"] == "no" else ""}" '
        f'title="{_e(row["reason"])}">' + "".join(f"<td>{_e(row[k])}</td>" for k, _ in PLAN_COLUMNS) + "</tr>"
        for row in plan_table(summary)
    )
    table = f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    return f'<section id="plan"><h2>Planner</h2>{_list(lines)}{plot_html(plan_plot(summary))}{table}</section>'
