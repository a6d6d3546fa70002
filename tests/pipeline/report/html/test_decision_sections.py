"""The HTML page's plain decision sections (pipeline/report/html/decision_sections.py)."""

from __future__ import annotations

from pipeline.report import render_html
from pipeline.report.html.decision_sections import cost, decision, plan, roofline

from ..decision_run import decision_run


def test_the_page_has_cost_roofline_and_planner_sections_in_order(tmp_path):
    run = decision_run(tmp_path)
    page = render_html(run)
    order = [page.index(f'id="{s}"') for s in ("recommended", "decision", "measurements", "cost", "roofline", "plan")]
    assert order == sorted(order)
    assert "USD per million inferences, full load" in page  # the headline's cost tile
    assert "<h2>Cost per inference</h2>" in cost(run) and "purchase price 249 USD" in cost(run)
    assert '<ul class="plain inputs">' in cost(run)  # the inputs nest under the figure they make
    assert "-bound, measured" in roofline(run)
    section = plan(run)
    assert "<h2>Planner</h2>" in section and '<tr class="rec"' in section
    assert "Recommendation rule: cheapest" in decision(run)


def test_without_a_workload_there_is_no_planner_section(tmp_path):
    import dataclasses

    assert plan(dataclasses.replace(decision_run(tmp_path), plan=None)) == ""


def test_the_headline_names_cost_roofline_bound_and_the_planners_answer(tmp_path):
    run = decision_run(tmp_path)
    assert run.recommended is not None and run.recommended.roofline is not None and run.plan is not None
    page = render_html(run)
    head = page[page.index('id="recommended"') : page.index('id="decision"')]
    assert "USD per million inferences, full load" in head
    assert f"of its roofline limit: {run.recommended.roofline.bound}-bound" in head
    assert "Planner, for 10 requests/s at p99 ≤ 50 ms:" in head and run.plan.answer.split(":")[0] in head
