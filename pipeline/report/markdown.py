"""``report.md``: the run in Markdown, short enough for a pull request: the recommendation and its
reason, the front as a table, cost, roofline and the planner's answer, units everywhere.

It renders the same strings as the terminal report (:mod:`pipeline.report.view` and
:mod:`pipeline.report.decision_view`), so the three agree.
"""

from __future__ import annotations

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
from pipeline.report.view import COLUMNS, legend, no_recommendation, power_provenance, ranking_summary, rows, text
from pipeline.summary import RunSummary

#: The table's columns in Markdown: what a reviewer needs, units in the headers.
MD_COLUMNS = ("variant", "device", "batch", "throughput", "p99", "ipj", "loss", "cost", "roof", "front")


def _escape(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in body]
    return lines


def _bullets(lines: Sequence[str]) -> list[str]:
    return [("  - " if line.startswith("  ") else "- ") + _escape(line.strip()) for line in lines]


def render_markdown(summary: RunSummary, front_only: bool = True) -> str:
    """The Markdown summary of ``summary``: the front's rows only unless ``front_only`` is False."""
    out = [f"## edgeprof: {_escape(text(summary.model.get('name')))} (run `{summary.run_id}`)", ""]
    rec = summary.recommendation
    if rec is not None:
        out += [f"**Recommended: `{rec.id}`** — {_escape(rec.reason)}", ""]
    else:
        out += [f"**No recommendation** — {_escape(no_recommendation(summary))}", ""]
    out += [_escape(ranking_summary(summary)) + " " + _escape(rule_line(summary)), ""]
    out += [_escape(budget_line(summary)) + " " + _escape(kinds_line(summary)), ""]
    headers = dict(COLUMNS)
    table_rows = rows(summary)
    shown = [r for r in table_rows if r.front or r.recommended] if front_only else table_rows
    body = [
        [row.cells[key] + (" ◀" if key == "variant" and row.recommended else "") for key in MD_COLUMNS] for row in shown
    ]
    title = "Pareto front" if front_only else "All measurements"
    out += [f"### {title} ({len(shown)} of {len(table_rows)} measurements)", ""]
    out += _table([headers[k] for k in MD_COLUMNS], body) + ["", f"_{_escape(legend(shown))}_", ""]
    targets = per_target_lines(summary)
    if targets:
        out += ["### Per target", ""] + _bullets(targets) + [""]
    out += ["### Cost per inference", ""] + _bullets(cost_lines(summary)) + [""]
    out += ["### Roofline", ""] + _bullets(roofline_lines(summary)) + [""]
    out += _plan_section(summary)
    out += ["### Power", ""] + _bullets(power_provenance(summary)) + [""]
    return "\n".join(out)


def _plan_section(summary: RunSummary) -> list[str]:
    plan = plan_lines(summary)
    if not plan:
        return []
    out = ["### Planner", ""] + _bullets(plan) + [""]
    out += _table([h for _, h in PLAN_COLUMNS], [[r[k] for k, _ in PLAN_COLUMNS] for r in plan_table(summary)])
    return out + [""]


def render_plan_markdown(summary: RunSummary) -> str:
    """``plan.md``: the planner's answer and table for ``summary``'s workload."""
    head = [f"## edgeprof plan: {_escape(text(summary.model.get('name')))} (run `{summary.run_id}`)", ""]
    return "\n".join(head + _plan_section(summary))
