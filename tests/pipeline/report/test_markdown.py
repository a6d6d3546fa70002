"""report.md and plan.md (pipeline/report/markdown.py): short, with units, fit for a pull request."""

from __future__ import annotations

from pipeline.report.markdown import render_markdown, render_plan_markdown

from ..sample_results import record, summary
from .decision_run import decision_run


def test_the_summary_has_the_recommendation_front_cost_roofline_and_plan(tmp_path):
    run = decision_run(tmp_path)
    md = render_markdown(run)
    assert md.startswith("## edgeprof: digits_cnn.onnx (run `20261126-131500-ab12`)\n")
    assert f"**Recommended: `{run.recommendation.id}`** — " in md
    for heading in ("### Pareto front (", "### Cost per inference", "### Roofline", "### Planner", "### Power"):
        assert heading in md
    assert "| variant | device | batch | throughput (inf/s) | p99 (ms) | inf/J | loss (pp) | USD per 1M inf |" in md
    assert " ◀ |" in md  # the recommended row is marked
    assert "| build on target | figures | devices |" in md
    plan = render_plan_markdown(run)
    assert plan.startswith("## edgeprof plan:") and "### Planner" in plan and "### Roofline" not in plan


def test_table_cells_cannot_break_the_table():
    md = render_markdown(summary([record("a|b")]), front_only=False)
    row = next(line for line in md.splitlines() if line.startswith("| a\\|b"))
    assert row.count(" | ") == 9  # ten cells: the pipe in the id is escaped
