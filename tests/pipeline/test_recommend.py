"""The recommendation (pipeline/recommend.py): which build, and the prudent tie-break."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from pipeline.constraints import Constraints
from pipeline.cost import CostOptions
from pipeline.derive import derive_figures, load_target_profiles
from pipeline.numbers import format_number
from pipeline.objectives import DEFAULT_OBJECTIVES
from pipeline.rank import rank_records
from pipeline.recommend import INDISTINGUISHABLE, Recommendation, knee_distances, recommend, resolve_rule

from .sample_results import record

NO_CONSTRAINTS = Constraints()


def pick(records, constraints=NO_CONSTRAINTS, rule="auto") -> Recommendation | None:
    return recommend(records, rank_records(records, DEFAULT_OBJECTIVES, constraints), constraints, rule)


def test_recommend_picks_most_inferences_per_joule_and_says_why():
    rec = pick(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, precision="fp32"),
            record("int8-static", ipj=430.1, loss=0.003, p99=2.3),
            record("int8-dynamic", ipj=150, loss=0.001, p99=3.0),
        ]
    )
    assert rec is not None
    assert rec.id == "int8-static/local-myhost/b8"
    for fragment in ("430 inf/J", "estimated power", "0.3 pp top-1 loss", "p99 2.3 ms", "batch 8", "210 inf/J"):
        assert fragment in rec.reason, (fragment, rec.reason)
    assert "FP32" in rec.reason
    assert len(re.findall(r"\.(?:\s|$)", rec.reason)) <= 2  # one or two sentences


def test_recommend_tie_goes_to_lower_p99():
    rec = pick([record("a", ipj=300, p99=3.0, loss=0.0), record("b", ipj=300, p99=2.0, loss=0.0)])
    assert rec is not None and rec.id == "b/local-myhost/b8"


def test_recommend_respects_constraints_and_validity():
    constraints = Constraints(sla_p99_ms=5.0, max_accuracy_loss=0.01)
    rec = pick(
        [
            record("fp32", ipj=100, p99=2.0, loss=0.0, precision="fp32"),
            record("too-slow", ipj=900, p99=9.0, loss=0.0),
            record("too-lossy", ipj=800, p99=2.0, loss=0.05),
            record("broken", ipj=700, p99=2.0, loss=0.0, valid=False),
            record("int8", ipj=300, p99=2.5, loss=0.004),
        ],
        constraints,
    )
    assert rec is not None and rec.id == "int8/local-myhost/b8"
    assert "SLA 5 ms" in rec.reason


def test_recommend_says_measured_power():
    rec = pick([record("int8", ipj=300, estimated=False, source="ina3221:VDD_IN")])
    assert rec is not None
    assert "measured with ina3221:VDD_IN" in rec.reason and "estimated" not in rec.reason


def test_recommend_without_energy_falls_back_to_throughput():
    rec = pick([record("fp32", power=False, tput=1000, precision="fp32"), record("int8", power=False, tput=4210.5)])
    assert rec is not None and rec.id == "int8/local-myhost/b8"
    assert "throughput" in rec.reason and "4,210 inf/s" in rec.reason
    assert "power" in rec.reason


def test_recommend_says_fidelity_without_labels():
    rec = pick([record("int8", loss=None, agreement=0.995)])
    assert rec is not None
    assert "0.5 pp fidelity loss" in rec.reason and "no labels" in rec.reason


def test_recommend_none_when_nothing_qualifies():
    constraints = Constraints(sla_p99_ms=1.0)
    assert pick([record("a", p99=2.0), record("b", p99=3.0)], constraints) is None
    assert pick([]) is None


def test_recommend_does_not_depend_on_record_order():
    a, b = record("a", ipj=100, loss=0.0), record("b", ipj=200, loss=0.0)
    rec = pick([a, b])
    assert rec is not None and rec.id == "b/local-myhost/b8"
    assert pick([b, a]) == rec


def test_a_lead_within_run_to_run_noise_goes_to_the_fp32_build() -> None:
    rec = pick(
        [
            record("fp16", ipj=5379.0, p99=0.28, loss=0.0, precision="fp16"),
            record("fp32", ipj=5368.0, p99=0.29, loss=0.0, precision="fp32"),
            record("int8", ipj=3000.0, p99=0.20, loss=0.0, precision="int8-static"),
        ]
    )
    assert rec is not None and rec.id == "fp32/local-myhost/b8"
    assert "fp16/local-myhost/b8" in rec.reason and "within 5%" in rec.reason
    assert INDISTINGUISHABLE == 0.05


def test_a_lead_within_noise_goes_to_less_accuracy_loss() -> None:
    rec = pick(
        [
            record("int8", ipj=1000.0, p99=1.0, loss=0.004, precision="int8-static"),
            record("fp16", ipj=980.0, p99=1.02, loss=0.001, precision="fp16"),
        ],
        rule="first",
    )
    assert rec is not None and rec.id == "fp16/local-myhost/b8"
    assert "less accuracy loss" in rec.reason


def test_a_clear_lead_is_recommended_even_with_reduced_precision() -> None:
    rec = pick(
        [
            record("int8", ipj=1000.0, p99=1.0, loss=0.0, precision="int8-static"),
            record("fp32", ipj=900.0, p99=2.0, loss=0.0, precision="fp32"),
        ]
    )
    assert rec is not None and rec.id == "int8/local-myhost/b8"
    assert "within 5%" not in rec.reason


def test_when_some_records_lack_energy_the_recommendation_says_throughput() -> None:
    rec = pick(
        [
            record("slow-with-power", ipj=50.0, tput=188.0, p99=30.0),
            record("fast-without-power", tput=2381.0, p99=3.0, power=False),
        ]
    )
    assert rec is not None and rec.id.startswith("fast-without-power")
    assert "ranked on throughput" in rec.reason


# --------------------------------------------------------------------------------------------------
# The rules: knee, cheapest, and which one auto applies


def test_the_knee_is_the_front_build_nearest_the_ideal_point():
    # Three builds trade energy against loss; the middle one gives up little of either.
    records = [
        record("eco", ipj=1000.0, loss=0.009, precision="int8-static"),
        record("mid", ipj=900.0, loss=0.002, precision="int8-dynamic"),
        record("safe", ipj=500.0, loss=0.0, precision="fp32"),
    ]
    ranking = rank_records(records, DEFAULT_OBJECTIVES)
    distances = knee_distances([r for r in records if ranking.rank(r.id) == 0], ranking.objectives)
    # Scaled 0-1 across the front (ipj 500-1000, loss 0-0.009); throughput is the same everywhere: left out.
    assert distances["mid/local-myhost/b8"] == pytest.approx(math.hypot(100 / 500, 0.002 / 0.009))
    assert distances["eco/local-myhost/b8"] == pytest.approx(1.0)
    assert distances["safe/local-myhost/b8"] == pytest.approx(1.0)
    rec = recommend(records, ranking)
    assert rec is not None and (rec.id, rec.rule) == ("mid/local-myhost/b8", "knee")
    assert rec.reason.startswith("Knee of the Pareto front (3 builds): nearest the ideal point")
    assert "distance 0.3; next" in rec.reason and "900 inf/J (estimated power)" in rec.reason


def test_cheapest_applies_when_every_front_build_has_a_cost():
    def priced(variant, tput, **kwargs):
        r = dataclasses.replace(record(variant, tput=tput, estimated=False, source="ina3221:VDD_IN", **kwargs),
                                target="jetson-orin-nano-8gb")  # fmt: skip
        return derive_figures([r], load_target_profiles(), {}, CostOptions())[0]

    records = [priced("fp32", 1000.0, ipj=300.0, precision="fp32"), priced("int8", 3000.0, ipj=250.0, loss=0.004)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES)
    assert resolve_rule("auto", ranking, records) == "cheapest"
    rec = recommend(records, ranking)
    assert rec is not None and (rec.id, rec.rule) == ("int8/local-myhost/b8", "cheapest")
    cost = records[1].cost
    assert cost is not None
    assert rec.reason.startswith(
        f"Cheapest feasible build at ${format_number(cost.usd_per_million_full_load)} per million"
    )
    assert "(next: fp32/local-myhost/b8 at $" in rec.reason
    assert "Amortised purchase $0.00947/h and energy $" in rec.reason
    # Without costs, auto falls back to the knee; an unknown rule is refused.
    assert resolve_rule("auto", rank_records([record("a")]), [record("a")]) == "knee"
    with pytest.raises(ValueError, match="one of auto, knee, cheapest, first"):
        resolve_rule("best", ranking, records)


def test_a_front_whose_builds_are_all_within_noise_has_no_knee_and_says_so():
    records = [record("int8-b1", ipj=23.2, tput=173.0, p99=22.3), record("int8-b8", ipj=23.3, tput=172.0, p99=74.0)]
    rec = pick(records)
    assert rec is not None and rec.rule == "knee"
    assert rec.reason.startswith(
        "The 2 builds on the Pareto front are within 5% of each other on every objective, so none is a knee: "
        "the best on inferences per joule, then the lower p99"
    )
