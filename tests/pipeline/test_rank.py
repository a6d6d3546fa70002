"""Non-dominated sorting and fallbacks (pipeline/rank.py); the constraints: test_constraints.py."""

from __future__ import annotations

import copy
import dataclasses
import math
import random

import pytest

from pipeline.constraints import Constraints
from pipeline.objectives import DEFAULT_OBJECTIVES, OBJECTIVES
from pipeline.rank import NOT_RANKED, effective_objectives, pareto_ranks, rank_records

from .sample_results import CLASSIC_OBJECTIVES, record

NO_CONSTRAINTS = Constraints()

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
    ranking = rank_records(records, CLASSIC_OBJECTIVES, NO_CONSTRAINTS)
    assert records == before
    assert ranking.rank("fp32/local-myhost/b8") == 0
    assert ranking.rank("int8/local-myhost/b8") == 0
    assert ranking.rank("int8-dyn/local-myhost/b8") == 1
    assert all(ranking.meets_sla(r.id) is None for r in records)
    assert [o.name for o in ranking.objectives] == ["inferences_per_joule", "accuracy_loss_abs", "latency_p99_ms"]


def test_invalid_records_are_not_ranked():
    records = [record("fp32", ipj=100), record("int8", ipj=900, valid=False)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS)
    assert ranking.rank("int8/local-myhost/b8") is None
    note = ranking.note("int8/local-myhost/b8")
    assert note is not None and note.startswith(NOT_RANKED) and "invalid" in note
    # With the invalid one out, fp32 is alone on the front.
    assert ranking.rank("fp32/local-myhost/b8") == 0
    assert ranking.note("fp32/local-myhost/b8") is None


def test_missing_objective_figure_is_not_ranked():
    records = [record("fp32"), record("int8", p99=None, ipj=999)]
    ranking = rank_records(records, CLASSIC_OBJECTIVES, NO_CONSTRAINTS)
    assert ranking.rank("int8/local-myhost/b8") is None
    assert any("no figure for p99 latency" in n for n in ranking.reasons("int8/local-myhost/b8"))


def test_ranking_twice_gives_the_same_ranking_and_one_note():
    records = [record("int8", valid=False)]
    once = rank_records(records, CLASSIC_OBJECTIVES, NO_CONSTRAINTS)
    twice = rank_records(records, CLASSIC_OBJECTIVES, NO_CONSTRAINTS)
    assert once.standings == twice.standings
    assert once.reasons("int8/local-myhost/b8") == ("invalid measurement",)
    assert once.note("int8/local-myhost/b8") == NOT_RANKED + "invalid measurement"


def test_no_labels_uses_fidelity():
    # Without labels, loss is 1 - agreement: the 0.99-agreement build trades off against the faster one.
    records = [
        record("fp32", ipj=100, loss=None, agreement=1.0),
        record("int8", ipj=400, loss=None, agreement=0.99),
        record("int8-bad", ipj=300, loss=None, agreement=0.9),
    ]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, NO_CONSTRAINTS)
    assert ranking.rank("fp32/local-myhost/b8") == 0
    assert ranking.rank("int8/local-myhost/b8") == 0
    assert ranking.rank("int8-bad/local-myhost/b8") == 1


def test_no_energy_anywhere_ranks_on_throughput():
    records = [record("fp32", power=False, tput=1000), record("int8", power=False, tput=3000)]
    used, notes, stand_ins = effective_objectives(records, CLASSIC_OBJECTIVES)
    names = [o.name for o in used]
    assert "inferences_per_joule" not in names and names[0] == "throughput_ips" and used[0].sense == "max"
    assert stand_ins["throughput_ips"].name == "inferences_per_joule"
    assert any("throughput" in n for n in notes)
    ranking = rank_records(records, CLASSIC_OBJECTIVES, NO_CONSTRAINTS)
    assert ranking.rank("int8/local-myhost/b8") == 0
    assert ranking.rank("fp32/local-myhost/b8") == 1
    assert ranking.fallback_notes == notes


def test_when_some_records_lack_energy_everything_is_ranked_on_throughput() -> None:
    records = [
        record("slow-with-power", ipj=50.0, tput=188.0, p99=30.0),
        record("fast-without-power", tput=2381.0, p99=3.0, power=False),
    ]
    used, notes, _ = effective_objectives(records, CLASSIC_OBJECTIVES)
    names = [o.name for o in used]
    assert "throughput_ips" in names and "inferences_per_joule" not in names
    assert notes and "1 of 2 records have no energy figure" in notes[0]


def test_under_the_defaults_throughput_at_the_p99_target_stands_in_for_energy_alone():
    # The fallback of inferences per joule is throughput, which the defaults already rank on: it is
    # not ranked twice, and the note says the ranking goes on without energy.
    records = [record("fp32", power=False, tput=1000), record("int8", power=False, tput=3000)]
    used, notes, stand_ins = effective_objectives(records, DEFAULT_OBJECTIVES)
    assert [o.name for o in used] == ["throughput_at_sla_ips", "accuracy_loss_abs"]
    assert stand_ins == {}
    assert notes[0] == (
        "no record has an energy figure (no power reading): ranked on throughput at the p99 target without "
        "inferences per joule"
    )
    assert notes[1] == "no record has a cost figure (no price or no power figure): left out of the ranking"


def test_an_objective_no_record_has_is_left_out_and_said():
    records = [record("a", accuracy=False), record("b", accuracy=False)]
    used, notes, _ = effective_objectives(records, CLASSIC_OBJECTIVES)
    assert "accuracy_loss_abs" not in [o.name for o in used]
    assert notes == ("no record has a figure for accuracy loss: left out of the ranking",)


def test_other_objectives_from_the_table():
    records = [record("a", p99=1.0, tput=10), record("b", p99=2.0, tput=20)]
    ranking = rank_records(records, [OBJECTIVES["latency_p50_ms"]], NO_CONSTRAINTS)
    assert ranking.rank("a/local-myhost/b8") == 0
    assert ranking.rank("b/local-myhost/b8") == 1


def test_repeated_record_ids_are_refused():
    with pytest.raises(ValueError, match="unique.*a/local-myhost/b8"):
        rank_records([record("a"), record("a")])


# --------------------------------------------------------------------------------------------------
# Fronts per target, figure kinds


def test_fronts_within_each_target_as_well_as_across_them():
    fast = dataclasses.replace(record("int8", device="orin", ipj=900.0, tput=3000.0), target="jetson-orin-nano-8gb")
    pi_a = dataclasses.replace(record("fp32", device="pi", ipj=90.0, tput=100.0), target="raspberry-pi-5")
    pi_b = dataclasses.replace(record("int8", device="pi", ipj=120.0, tput=150.0), target="raspberry-pi-5")
    ranking = rank_records([fast, pi_a, pi_b], CLASSIC_OBJECTIVES)
    assert [ranking.rank(r.id) for r in (fast, pi_a, pi_b)] == [0, 2, 1]
    assert [ranking.target_rank(r.id) for r in (fast, pi_a, pi_b)] == [0, 1, 0]
    within = ranking.within_targets()
    assert within.rank(pi_b.id) == 0 and within.rank(pi_a.id) == 1


def test_each_ranked_figure_says_what_it_rests_on_and_estimates_can_be_excluded():
    measured_power = record("fp32", ipj=300.0, tput=1000.0, estimated=False)
    estimated_power = record("int8", ipj=900.0, tput=1100.0, estimated=True)
    ranking = rank_records([measured_power, estimated_power], CLASSIC_OBJECTIVES)
    assert ranking.figure_kinds(estimated_power.id) == {
        "inferences_per_joule": "estimated", "accuracy_loss_abs": "measured", "latency_p99_ms": "measured",
    }  # fmt: skip
    assert ranking.figure_kinds(measured_power.id)["inferences_per_joule"] == "measured"
    assert ranking.rank(estimated_power.id) == 0 and ranking.rank(measured_power.id) == 1
    # Without estimates, the estimated energy figure is missing: the ranking falls back to throughput.
    strict = rank_records([measured_power, estimated_power], CLASSIC_OBJECTIVES, exclude_estimates=True)
    assert strict.excluded_estimates and [o.name for o in strict.objectives][0] == "throughput_ips"
    assert strict.fallback_notes[0].startswith(
        "1 of 2 records have no energy figure (no power reading) that is not an estimate (estimates excluded)"
    )


def test_an_invalid_record_is_not_ranked_and_the_agents_reasons_say_why() -> None:
    import dataclasses

    from agent.protocol import Validity

    good = record("good", ipj=100)
    bad = dataclasses.replace(
        record("bad", ipj=500),  # the best figure of the two, from a window that cannot be trusted
        valid=False,
        validity=Validity(valid=False, reasons=["throttled: clock fell", "foreign load: 40%"]),
    )

    ranking = rank_records([good, bad])

    assert ranking.rank(good.id) == 0 and ranking.rank(bad.id) is None
    assert ranking.note(bad.id) == "not ranked: invalid measurement: throttled: clock fell; foreign load: 40%"


def _above_idle_only(rec):  # type: ignore[no-untyped-def]
    """``rec`` as a CPU-load estimate without an idle figure: no gross figure, only the part above idle."""
    return dataclasses.replace(
        rec,
        inferences_per_joule=None,
        energy_j_per_inference=None,
        inferences_per_joule_above_idle=rec.inferences_per_joule,
        energy_above_idle_j_per_inference=rec.energy_j_per_inference,
    )


def test_without_gross_energy_the_ranking_uses_inferences_per_joule_above_idle_and_says_so() -> None:
    """An estimate without an idle figure knows the energy above idle only: the ranking ranks on that
    (not on throughput, which would drop energy altogether) and the note says why."""
    records = [
        _above_idle_only(record("efficient", ipj=400.0, tput=800.0, p99=3.0)),
        _above_idle_only(record("fast", ipj=200.0, tput=1600.0, p99=3.0)),
        _above_idle_only(record("worse", ipj=150.0, tput=700.0, p99=3.0)),
    ]
    ranking = rank_records(records, DEFAULT_OBJECTIVES)
    names = [o.name for o in ranking.objectives]
    assert names[0] == "inferences_per_joule_above_idle" and "inferences_per_joule" not in names
    assert ranking.fallback_notes[0] == (
        "no record has a gross energy figure (power known above idle only: no idle power figure for the device): "
        "ranked on inferences per joule above idle instead of inferences per joule"
    )
    assert ranking.rank("efficient/local-myhost/b8") == 0 and ranking.rank("worse/local-myhost/b8") == 1
    assert ranking.figure_kinds("efficient/local-myhost/b8")["inferences_per_joule_above_idle"] == "estimated"


def test_when_some_records_have_no_power_at_all_throughput_stands_in_and_says_so() -> None:
    records = [
        _above_idle_only(record("estimated", ipj=400.0, tput=800.0, p99=3.0)),
        record("no-power", tput=1600.0, p99=3.0, power=False),
    ]
    ranking = rank_records(records, DEFAULT_OBJECTIVES)
    names = [o.name for o in ranking.objectives]
    assert "inferences_per_joule" not in names and "inferences_per_joule_above_idle" not in names
    assert "throughput_at_sla_ips" in names  # the throughput objective stands in alone
    assert ranking.fallback_notes[0] == (
        "no record has a gross energy figure, and only 1 of 2 have inferences per joule above idle (the others have "
        "no power reading): ranked on throughput at the p99 target without inferences per joule"
    )
    assert all(ranking.rank(r.id) is not None for r in records)  # nobody left out for lacking energy
