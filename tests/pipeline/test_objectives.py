"""The objectives table (pipeline/objectives.py), and that a new objective is one field and one entry."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from rich.console import Console

from pipeline.export import results_document
from pipeline.objectives import (
    ACCURACY_LOSS,
    DEFAULT_OBJECTIVES,
    INFERENCES_PER_JOULE,
    INFERENCES_PER_JOULE_ABOVE_IDLE,
    LATENCY_P99,
    OBJECTIVES,
    THROUGHPUT,
    Objective,
)
from pipeline.rank import rank_records
from pipeline.record import Record
from pipeline.report import render_html, render_table
from pipeline.report.view import ranking_summary

from .sample_results import record, summary


def test_the_defaults_are_the_articles_three_metrics_and_accuracy():
    assert [(o.name, o.sense) for o in DEFAULT_OBJECTIVES] == [
        ("inferences_per_joule", "max"),
        ("throughput_at_sla_ips", "max"),
        ("accuracy_loss_abs", "min"),
        ("cost_usd_per_million", "min"),
    ]
    assert INFERENCES_PER_JOULE.fallback is INFERENCES_PER_JOULE_ABOVE_IDLE
    assert INFERENCES_PER_JOULE_ABOVE_IDLE.fallback is THROUGHPUT
    assert all(OBJECTIVES[o.name] is o for o in DEFAULT_OBJECTIVES)


def test_values_are_read_off_the_record():
    r = record("int8", ipj=430.0, tput=4210.0, p99=2.3, loss=0.003)
    assert INFERENCES_PER_JOULE.of(r) == 430.0
    assert THROUGHPUT.of(r) == 4210.0
    assert LATENCY_P99.of(r) == 2.3
    assert ACCURACY_LOSS.of(r) == pytest.approx(0.003)
    assert ACCURACY_LOSS.of(record("x", loss=None, agreement=0.9)) == pytest.approx(0.1)  # fidelity


def test_missing_and_nan_figures_are_none():
    assert INFERENCES_PER_JOULE.of(record("a", power=False)) is None
    assert LATENCY_P99.of(record("a", p99=None)) is None
    assert ACCURACY_LOSS.of(record("a", accuracy=False)) is None


def test_a_sense_must_be_max_or_min():
    with pytest.raises(ValueError, match="'max' or 'min'"):
        Objective(name="x", sense="up", label="x", unit="", phrase="x", value=lambda r: 1.0)


# --------------------------------------------------------------------------------------------------
# Adding an objective: one Record field, one table entry.


@dataclass(frozen=True, kw_only=True)
class PricedRecord(Record):
    """The one new field: what a deployment would do per dollar of device cost."""

    inferences_per_dollar: float | None = None


def priced(variant: str, per_dollar: float, **kwargs) -> PricedRecord:
    base = record(variant, **kwargs)
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    return PricedRecord(**fields, inferences_per_dollar=per_dollar)


def test_adding_an_objective_is_one_record_field_and_one_table_entry():
    table = dict(OBJECTIVES)
    table["inferences_per_dollar"] = Objective(
        name="inferences_per_dollar",
        sense="max",
        label="inferences per dollar",
        unit="inf/$",
        phrase="most inferences per dollar",
        value=lambda r: r.inferences_per_dollar,
    )
    objectives = [table["inferences_per_dollar"], table["accuracy_loss_abs"], table["latency_p99_ms"]]
    # cheap wins on dollars though it loses on joules; pricey is dominated under the new objectives
    records = [
        priced("cheap", 9e6, ipj=100.0, p99=2.0),
        priced("pricey", 1e6, ipj=900.0, p99=2.0),
    ]
    assert [r.id for r in records if rank_records(records).rank(r.id) == 0] == ["pricey/local-myhost/b8"]

    run = summary(records, objectives=objectives)
    assert run.ranking.rank("cheap/local-myhost/b8") == 0 and run.ranking.rank("pricey/local-myhost/b8") == 1
    assert run.recommendation is not None and run.recommendation.id == "cheap/local-myhost/b8"
    assert "9,000,000 inf/$" in run.recommendation.reason
    assert ranking_summary(run).startswith("Ranked on most inferences per dollar, least accuracy loss")
    # results.json carries the new figure and names the objective, without touching the exporter.
    doc = json.loads(json.dumps(results_document(run), allow_nan=False))
    assert doc["objectives"] == {"inferences_per_dollar": "max", "accuracy_loss_abs": "min", "latency_p99_ms": "min"}
    assert [v["inferences_per_dollar"] for v in doc["variants"]] == [9e6, 1e6]
    # Both reports render it.
    assert "most inferences per dollar" in render_html(run)
    console = Console(record=True, width=160, color_system=None)
    render_table(run, console)
    assert "Recommended: cheap/local-myhost/b8" in console.export_text()


def test_an_added_objective_with_a_fallback_falls_back_like_energy():
    table = dict(OBJECTIVES)
    table["inferences_per_dollar"] = Objective(
        name="inferences_per_dollar", sense="max", label="inferences per dollar", unit="inf/$",
        phrase="most inferences per dollar", value=lambda r: r.inferences_per_dollar, fallback=THROUGHPUT,
        missing="price",
    )  # fmt: skip
    records = [priced("a", math.nan, tput=100.0), priced("b", 5.0, tput=50.0)]
    ranking = rank_records(records, [table["inferences_per_dollar"]])
    assert [o.name for o in ranking.objectives] == ["throughput_ips"]
    assert ranking.fallback_notes == (
        "1 of 2 records have no price: ranked on throughput instead of inferences per dollar",
    )
    assert ranking.rank("a/local-myhost/b8") == 0
