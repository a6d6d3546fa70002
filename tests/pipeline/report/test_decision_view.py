"""The decision's display strings (pipeline/report/decision_view.py), shared by every report."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.report.decision_view import (
    budget_line,
    cost_cell,
    cost_lines,
    kinds_line,
    per_target_lines,
    plan_lines,
    plan_table,
    roofline_cell,
    roofline_lines,
    rule_line,
)

from ..sample_results import record, summary
from .decision_run import decision_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return decision_run(tmp_path_factory.mktemp("view"))


def test_cells_carry_units_and_marks(run):
    r = run.record("int8/orin-01/b8")
    assert cost_cell(r).startswith("~")  # the default amortisation period is an estimate
    assert roofline_cell(r).endswith(("% mem", "% comp"))
    assert cost_cell(record("a")) == roofline_cell(record("a")) == "–"


def test_the_rule_the_budget_and_the_kinds_of_figure(run):
    assert rule_line(run).startswith("Recommendation rule: cheapest ('auto' chose it): the cheapest feasible build")
    assert budget_line(run) == (
        "Accuracy budget: the default, loss ≤ 1 pp absolute (cosine ≥ 0.99 where the loss is cosine): NNCF's "
        "default tolerance, 1 pp absolute; set yours with --max-accuracy-loss."
    )
    assert budget_line(summary([record("a")], max_loss=0.02)).endswith("set with --max-accuracy-loss.")
    assert kinds_line(run).startswith("Figures ranked: inferences per joule: 4 measured; ")
    assert "cost per million inferences: 4 estimated" in kinds_line(run)


def test_cost_lines_show_the_breakdown_and_every_input(run):
    lines = cost_lines(run)
    rec = run.recommended
    assert rec is not None and lines[0].startswith(f"{rec.id}: $")
    assert "amortised purchase $0.00947/h + energy $" in lines[0] and "at your load" in lines[0]
    inputs = [line.strip() for line in lines[1:-1]]
    assert any(i.startswith("purchase price 249 USD (jetson-orin-nano-8gb price.purchase:") for i in inputs)
    assert any(i.startswith("utilisation ") and "--rate 600/min" in i for i in inputs)
    assert lines[-1].startswith("across the 4 measurements with a cost: $")
    assert cost_lines(summary([record("a")])) == ["no cost figures"]


def test_roofline_lines_name_the_bound_and_explain_precision_and_batch(run):
    lines = roofline_lines(run)
    assert "-bound, measured" in lines[0] and "% of the" in lines[0] and "power mode 15W" in lines[0]
    assert any(line.strip().startswith("peak ") and "orin-nano" in line for line in lines)
    assert any(line.startswith("int8-static against FP32") for line in lines)


def test_the_plan_lines_and_table(run):
    lines = plan_lines(run)
    assert lines[0].startswith("For 10 requests/s (Poisson arrivals), p99 ≤ 50 ms end to end: the cheapest")
    assert any(line.startswith("No peak given") for line in lines)
    assert any(line.startswith("End-to-end p99 simulated over") for line in lines)
    rows = plan_table(run)
    assert rows[0]["verdict"] == "cheapest" and rows[0]["kind"] == "measured"
    assert (
        plan_lines(dataclasses.replace(run, plan=None)) == [] and plan_table(dataclasses.replace(run, plan=None)) == []
    )


def test_per_target_picks_when_two_targets_were_measured():
    orin = dataclasses.replace(record("int8", device="orin", ipj=900.0), target="jetson-orin-nano-8gb")
    pi = dataclasses.replace(record("fp32", device="pi", ipj=90.0), target="raspberry-pi-5")
    run = summary([orin, pi])
    assert per_target_lines(run) == ["jetson-orin-nano-8gb: int8/orin/b8", "raspberry-pi-5: fp32/pi/b8"]
    assert per_target_lines(summary([orin])) == []
