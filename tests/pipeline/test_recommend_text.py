"""The recommendation's English (pipeline/recommend_text.py)."""

from __future__ import annotations

from pipeline.constraints import Constraints
from pipeline.objectives import DEFAULT_OBJECTIVES, INFERENCES_PER_JOULE
from pipeline.rank import rank_records
from pipeline.recommend_text import baseline_phrase, leader_reason, loss_phrase, power_provenance

from .sample_results import record


def test_loss_phrase_names_gain_none_loss_fidelity_and_absence():
    assert loss_phrase(record("a", loss=-0.002)) == "0.2 pp top-1 gain"
    assert loss_phrase(record("a", loss=0.0)) == "no top-1 loss"
    assert loss_phrase(record("a", loss=0.012)) == "1.2 pp top-1 loss"
    assert loss_phrase(record("a", loss=None, agreement=0.99)).startswith("1 pp fidelity loss")
    assert loss_phrase(record("a", accuracy=False)) == "accuracy not measured"


def test_power_provenance_never_calls_an_estimate_a_measurement():
    assert power_provenance(record("a", estimated=True)) == "estimated power"
    assert (
        power_provenance(record("a", estimated=False, source="rapl:package-0")) == "power measured with rapl:package-0"
    )


def test_an_fp32_baseline_that_is_not_eligible_says_why():
    records = [record("int8", ipj=300, p99=2.0), record("fp32", ipj=400, p99=9.0, precision="fp32")]
    constraints = Constraints(sla_p99_ms=5.0)
    ranking = rank_records(records, DEFAULT_OBJECTIVES, constraints)
    phrase = baseline_phrase(records[0], records, ranking, INFERENCES_PER_JOULE)
    assert "gives 400 inf/J but is not eligible: p99 9 ms exceeds the 5 ms SLA." in phrase


def test_the_leader_reason_of_an_fp32_build_says_nothing_reduced_does_better():
    records = [record("fp32", ipj=400, precision="fp32"), record("int8", ipj=300)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES)
    reason = leader_reason(records[0], records, ranking, INFERENCES_PER_JOULE, Constraints())
    assert reason.endswith("It is an FP32 build: no reduced-precision build does better within the budget.")
