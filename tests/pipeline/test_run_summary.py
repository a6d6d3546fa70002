"""A run rebuilt from its database (pipeline/run_summary.py): decision options stored and overridden,
graph counts stored or counted from the store, the planner's answer attached."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError
from pipeline.results_db import ResultsDB
from pipeline.run_summary import summary_for_run

from .run_fixture import RUN, make_run


def summary_of(out, **overrides):
    db = ResultsDB(out / "results.db")
    try:
        return summary_for_run(db, RUN, overrides=overrides)
    finally:
        db.close()


def test_records_get_cost_roofline_and_memory_from_the_profile(tmp_path):
    run = summary_of(make_run(tmp_path / "out"))
    assert len(run.records) == 4
    for r in run.records:
        assert r.target == "jetson-orin-nano-8gb"
        assert r.cost is not None and r.cost.pricing == "purchase"  # the $249 developer kit
        assert r.roofline is not None and r.roofline.power_mode == "15W"  # the profile's default mode
        assert r.memory_fit is not None and r.memory_fit.fits
    assert run.constraints.budget_is_default and run.recommendation is not None
    assert run.recommendation.rule == "cheapest" and run.plan is None


def test_stored_options_apply_and_report_flags_override_them(tmp_path):
    out = make_run(tmp_path / "out", decision={"rule": "knee", "electricity_usd_per_kwh": 0.3})
    run = summary_of(out)
    assert run.recommendation is not None and run.recommendation.rule == "knee"
    price = {i.name: i for i in run.records[0].cost.inputs}["electricity_price"]
    assert (price.value, price.provenance) == (0.3, "--electricity-price")
    again = summary_of(out, rule="cheapest", objectives=("cost", "loss"))
    assert again.recommendation.rule == "cheapest"
    assert [o.name for o in again.ranking.objectives] == ["cost_usd_per_million", "accuracy_loss_abs"]


def test_a_rate_brings_the_planner_and_the_cost_at_that_load(tmp_path):
    run = summary_of(make_run(tmp_path / "out"), rate="600/min", p99_ms=50.0)
    assert run.plan is not None and run.plan.cheapest is not None
    assert run.plan.cheapest.device_id == "orin-01" and run.plan.cheapest.devices == 1
    fp32_b1 = run.record("fp32/orin-01/b1")
    assert fp32_b1.cost.utilisation == pytest.approx(10 / 500)  # 10/s over 500 inf/s
    assert fp32_b1.cost.usd_per_million_at_load > fp32_b1.cost.usd_per_million_full_load


def test_a_run_recorded_before_counting_is_counted_from_the_artifact_store(tmp_path):
    counted_now = summary_of(make_run(tmp_path / "stored", counted=False, stored=True))
    counted_then = summary_of(make_run(tmp_path / "counted"))
    assert [r.roofline for r in counted_now.records] == [r.roofline for r in counted_then.records]
    assert all(r.roofline is not None for r in counted_now.records)
    gone = summary_of(make_run(tmp_path / "gone", counted=False))  # its builds are not in the store
    assert all(r.roofline is None for r in gone.records)
    assert any(n.startswith("no roofline: the build's graph was not counted") for n in gone.records[0].notes)


def test_bad_options_are_input_errors_naming_the_flag(tmp_path):
    out = make_run(tmp_path / "out")
    with pytest.raises(InputError, match="--objectives: unknown objective 'speed'"):
        summary_of(out, objectives=("speed",))
    with pytest.raises(InputError, match="the planner needs the p99 to meet: pass --p99-ms"):
        summary_of(out, rate="10/s")
    with pytest.raises(InputError, match="--rate takes a rate such as 600/min"):
        summary_of(out, rate="lots", p99_ms=10.0)
