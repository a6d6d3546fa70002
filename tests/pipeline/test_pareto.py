"""Pareto ranking, constraints and the recommendation (pipeline/pareto.py)."""

from __future__ import annotations

import copy
import math
import random
import re

import pytest

from pipeline.pareto import (
    DEFAULT_OBJECTIVES,
    NOT_RANKED,
    effective_objectives,
    format_number,
    pareto_ranks,
    rank_records,
    recommend,
)

from .sample_results import record

NO_CONSTRAINTS = {"sla_p99_ms": None, "max_accuracy_loss_abs": None}


def by_id(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


# --------------------------------------------------------------------------------------------------
# pareto_ranks


def test_two_objectives_max_min():
    points = [(1, 1), (2, 2), (3, 1), (1, 3), (2, 0.5)]
    # (3,1) and (2,0.5) trade off; (1,1) and (2,2) come next; (1,3) is dominated by both of those.
    assert pareto_ranks(points, ["max", "min"]) == [1, 1, 0, 2, 0]


def test_senses_are_respected():
    points = [(1, 1), (2, 2), (3, 3)]
    assert pareto_ranks(points, ["max", "max"]) == [2, 1, 0]
    assert pareto_ranks(points, ["min", "min"]) == [0, 1, 2]
    assert pareto_ranks(points, ["max", "min"]) == [0, 0, 0]


def test_three_objectives_third_one_saves_a_point():
    # (1, 1, 9) is worst in the first two objectives but best in the third (max), so it is on the front.
    points = [(2, 2, 1), (1, 1, 9), (1, 1, 0), (3, 3, 1)]
    assert pareto_ranks(points, ["max", "max", "max"]) == [1, 0, 2, 0]
    # Without the third objective it is not.
    assert pareto_ranks([p[:2] for p in points], ["max", "max"]) == [1, 2, 2, 0]


def test_identical_points_share_a_rank():
    points = [(1, 1), (1, 1), (0, 0), (0, 0)]
    assert pareto_ranks(points, ["max", "max"]) == [0, 0, 1, 1]


def test_none_and_nan_are_on_no_front():
    points = [(1, None), (2, 2), (math.nan, 1), (1, 1)]
    assert pareto_ranks(points, ["max", "max"]) == [0 + 2, 0, 2, 1]
    assert pareto_ranks([(None, 1), (1, math.nan)], ["max", "max"]) == [1, 1]


def test_empty_and_single():
    assert pareto_ranks([], ["max"]) == []
    assert pareto_ranks([(5,)], ["min"]) == [0]


def test_infinity_is_a_value():
    assert pareto_ranks([(math.inf,), (1,)], ["max"]) == [0, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="sense"):
        pareto_ranks([(1,)], ["maximise"])
    with pytest.raises(ValueError, match="senses"):
        pareto_ranks([(1, 2)], ["max"])


def test_ranks_agree_with_the_definition_on_random_points():
    rng = random.Random(7)
    senses = ["max", "min", "min"]
    points = [tuple(rng.choice(range(6)) for _ in senses) for _ in range(120)]
    ranks = pareto_ranks(points, senses)

    def dominates(a, b):
        better = [(x > y) if s == "max" else (x < y) for x, y, s in zip(a, b, senses, strict=True)]
        worse = [(x < y) if s == "max" else (x > y) for x, y, s in zip(a, b, senses, strict=True)]
        return any(better) and not any(worse)

    for i, p in enumerate(points):
        dominators = [ranks[j] for j, q in enumerate(points) if dominates(q, p)]
        if ranks[i] == 0:
            assert not dominators
        else:
            # Dominated by someone exactly one front earlier, and by nobody on its own front or later.
            assert ranks[i] - 1 in dominators
            assert all(r < ranks[i] for r in dominators)


# --------------------------------------------------------------------------------------------------
# rank_records


def test_rank_records_sets_ranks_and_does_not_mutate():
    records = [
        record("fp32", ipj=200, loss=0.0, p99=4.0),
        record("int8", ipj=430, loss=0.003, p99=2.3),
        record("int8-dyn", ipj=100, loss=0.005, p99=7.0),
    ]
    before = copy.deepcopy(records)
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS))
    assert records == before
    assert ranked["fp32/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["int8/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["int8-dyn/local-myhost/b8"]["pareto_rank"] == 1
    assert all(r["meets_sla"] is None for r in ranked.values())


def test_invalid_records_are_not_ranked():
    records = [record("fp32", ipj=100), record("int8", ipj=900, valid=False)]
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS))
    bad = ranked["int8/local-myhost/b8"]
    assert bad["pareto_rank"] is None
    assert any(n.startswith(NOT_RANKED) and "invalid" in n for n in bad["notes"])
    # With the invalid one out, fp32 is alone on the front.
    assert ranked["fp32/local-myhost/b8"]["pareto_rank"] == 0


def test_sla_excludes_and_says_why():
    records = [record("fp32", ipj=100, p99=4.0), record("int8", ipj=900, p99=12.0)]
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, {"sla_p99_ms": 5, "max_accuracy_loss_abs": None}))
    slow = ranked["int8/local-myhost/b8"]
    assert slow["pareto_rank"] is None
    assert slow["meets_sla"] is False
    assert any("p99 12 ms exceeds the 5 ms SLA" in n for n in slow["notes"])
    fast = ranked["fp32/local-myhost/b8"]
    assert fast["pareto_rank"] == 0 and fast["meets_sla"] is True


def test_max_accuracy_loss_excludes():
    records = [record("fp32", ipj=100, loss=0.0), record("int8", ipj=900, loss=0.02)]
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, {"sla_p99_ms": None, "max_accuracy_loss_abs": 0.01}))
    lossy = ranked["int8/local-myhost/b8"]
    assert lossy["pareto_rank"] is None
    assert any("accuracy loss 2 pp exceeds the 1 pp limit" in n for n in lossy["notes"])
    assert ranked["fp32/local-myhost/b8"]["pareto_rank"] == 0


def test_constraint_without_the_figure_excludes():
    records = [record("fp32", p99=None)]
    ranked = rank_records(records, DEFAULT_OBJECTIVES, {"sla_p99_ms": 5, "max_accuracy_loss_abs": None})
    assert ranked[0]["pareto_rank"] is None
    assert ranked[0]["meets_sla"] is None
    assert any("no p99 latency" in n for n in ranked[0]["notes"])


def test_missing_objective_figure_is_not_ranked():
    records = [record("fp32"), record("int8", p99=None, ipj=999)]
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS))
    assert ranked["int8/local-myhost/b8"]["pareto_rank"] is None
    assert any("no figure for p99 latency" in n for n in ranked["int8/local-myhost/b8"]["notes"])


def test_ranking_twice_does_not_repeat_notes():
    records = [record("int8", valid=False)]
    once = rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS)
    twice = rank_records(once, DEFAULT_OBJECTIVES, NO_CONSTRAINTS)
    assert once[0]["notes"] == twice[0]["notes"]
    assert len(twice[0]["notes"]) == 1


def test_no_labels_uses_fidelity():
    # Without labels, loss is 1 - agreement: the 0.99-agreement build trades off against the faster one.
    records = [
        record("fp32", ipj=100, loss=None, agreement=1.0),
        record("int8", ipj=400, loss=None, agreement=0.99),
        record("int8-bad", ipj=300, loss=None, agreement=0.9),
    ]
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS))
    assert ranked["fp32/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["int8/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["int8-bad/local-myhost/b8"]["pareto_rank"] == 1


def test_no_energy_anywhere_ranks_on_throughput():
    records = [record("fp32", power=False, tput=1000), record("int8", power=False, tput=3000)]
    used, notes = effective_objectives(records, DEFAULT_OBJECTIVES)
    assert "inferences_per_joule" not in used and used["throughput_ips"] == "max"
    assert any("throughput" in n for n in notes)
    ranked = by_id(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS))
    assert ranked["int8/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["fp32/local-myhost/b8"]["pareto_rank"] == 1


def test_other_objectives_by_dotted_path():
    records = [record("a", p99=1.0, tput=10), record("b", p99=2.0, tput=20)]
    ranked = by_id(rank_records(records, {"latency_ms.p50": "min"}, NO_CONSTRAINTS))
    assert ranked["a/local-myhost/b8"]["pareto_rank"] == 0
    assert ranked["b/local-myhost/b8"]["pareto_rank"] == 1


# --------------------------------------------------------------------------------------------------
# recommend


def test_recommend_picks_most_inferences_per_joule_and_says_why():
    records = rank_records(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, precision="fp32"),
            record("int8-static", ipj=430.1, loss=0.003, p99=2.3),
            record("int8-dynamic", ipj=150, loss=0.001, p99=3.0),
        ],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    rec = recommend(records, NO_CONSTRAINTS)
    assert rec is not None
    assert rec["id"] == "int8-static/local-myhost/b8"
    reason = rec["reason"]
    for fragment in (
        "430 inf/J",
        "estimated power",
        "0.3 pp top-1 loss",
        "p99 2.3 ms",
        "batch 8",
        "210 inf/J",
    ):
        assert fragment in reason, (fragment, reason)
    assert "FP32" in reason
    assert len(re.findall(r"\.(?:\s|$)", reason)) <= 2  # one or two sentences


def test_recommend_tie_goes_to_lower_p99():
    records = rank_records(
        [record("a", ipj=300, p99=3.0, loss=0.0), record("b", ipj=300, p99=2.0, loss=0.0)],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    assert recommend(records, NO_CONSTRAINTS)["id"] == "b/local-myhost/b8"


def test_recommend_respects_constraints_and_validity():
    constraints = {"sla_p99_ms": 5.0, "max_accuracy_loss_abs": 0.01}
    records = rank_records(
        [
            record("fp32", ipj=100, p99=2.0, loss=0.0, precision="fp32"),
            record("too-slow", ipj=900, p99=9.0, loss=0.0),
            record("too-lossy", ipj=800, p99=2.0, loss=0.05),
            record("broken", ipj=700, p99=2.0, loss=0.0, valid=False),
            record("int8", ipj=300, p99=2.5, loss=0.004),
        ],
        DEFAULT_OBJECTIVES,
        constraints,
    )
    rec = recommend(records, constraints)
    assert rec["id"] == "int8/local-myhost/b8"
    assert "SLA 5 ms" in rec["reason"]


def test_recommend_says_measured_power():
    records = rank_records(
        [record("int8", ipj=300, estimated=False, source="ina3221:VDD_IN")],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    reason = recommend(records, NO_CONSTRAINTS)["reason"]
    assert "measured with ina3221:VDD_IN" in reason and "estimated" not in reason


def test_recommend_without_energy_falls_back_to_throughput():
    records = rank_records(
        [record("fp32", power=False, tput=1000, precision="fp32"), record("int8", power=False, tput=4210.5)],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    rec = recommend(records, NO_CONSTRAINTS)
    assert rec["id"] == "int8/local-myhost/b8"
    assert "throughput" in rec["reason"] and "4,210 inf/s" in rec["reason"]
    assert "power" in rec["reason"]


def test_recommend_says_fidelity_without_labels():
    records = rank_records([record("int8", loss=None, agreement=0.995)], DEFAULT_OBJECTIVES, NO_CONSTRAINTS)
    reason = recommend(records, NO_CONSTRAINTS)["reason"]
    assert "0.5 pp fidelity loss" in reason and "no labels" in reason


def test_recommend_none_when_nothing_qualifies():
    constraints = {"sla_p99_ms": 1.0, "max_accuracy_loss_abs": None}
    records = rank_records([record("a", p99=2.0), record("b", p99=3.0)], DEFAULT_OBJECTIVES, constraints)
    assert recommend(records, constraints) is None
    assert recommend([], NO_CONSTRAINTS) is None


def test_recommend_ranks_unranked_records_itself():
    records = [record("a", ipj=100, loss=0.0), record("b", ipj=200, loss=0.0)]
    assert recommend(records, NO_CONSTRAINTS)["id"] == "b/local-myhost/b8"


def test_format_number():
    assert format_number(430.1) == "430"
    assert format_number(4210.5) == "4,210"
    assert format_number(2.3) == "2.3"
    assert format_number(2.3, strip=False) == "2.30"
    assert format_number(0.00232) == "0.00232"
    assert format_number(999.96) == "1,000"
    assert format_number(0) == "0"
    assert format_number(None) == "–"
    assert format_number(math.nan) == "–"


def test_a_lead_within_run_to_run_noise_goes_to_the_fp32_build() -> None:
    records = rank_records(
        [
            record("fp16", ipj=5379.0, p99=0.28, loss=0.0, precision="fp16"),
            record("fp32", ipj=5368.0, p99=0.29, loss=0.0, precision="fp32"),
            record("int8", ipj=3000.0, p99=0.20, loss=0.0, precision="int8-static"),
        ],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    rec = recommend(records, NO_CONSTRAINTS)
    assert rec is not None and rec["id"] == "fp32/local-myhost/b8"
    assert "fp16/local-myhost/b8" in rec["reason"] and "within 5%" in rec["reason"]


def test_a_clear_lead_is_recommended_even_with_reduced_precision() -> None:
    records = rank_records(
        [
            record("int8", ipj=1000.0, p99=1.0, loss=0.0, precision="int8-static"),
            record("fp32", ipj=900.0, p99=2.0, loss=0.0, precision="fp32"),
        ],
        DEFAULT_OBJECTIVES,
        NO_CONSTRAINTS,
    )
    rec = recommend(records, NO_CONSTRAINTS)
    assert rec is not None and rec["id"] == "int8/local-myhost/b8"
    assert "within 5%" not in rec["reason"]


def test_when_some_records_lack_energy_everything_is_ranked_on_throughput() -> None:
    records = [
        record("slow-with-power", ipj=50.0, tput=188.0, p99=30.0),
        record("fast-without-power", tput=2381.0, p99=3.0, power=False),
    ]
    used, notes = effective_objectives(records, DEFAULT_OBJECTIVES)
    assert "throughput_ips" in used and "inferences_per_joule" not in used
    assert notes and "1 of 2 records have no energy figure" in notes[0]
    rec = recommend(rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS), NO_CONSTRAINTS)
    assert rec is not None and rec["id"].startswith("fast-without-power")
    assert "ranked on throughput" in rec["reason"]
