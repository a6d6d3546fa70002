"""The run's constraints (pipeline/constraints.py): the budget's checks, and how a record outside them
is shown unranked with the reason."""

from __future__ import annotations

import dataclasses
import math

import pytest

from pipeline.constraints import Constraints
from pipeline.objectives import DEFAULT_OBJECTIVES
from pipeline.rank import rank_records

from .sample_results import CLASSIC_OBJECTIVES, record


def test_sla_excludes_and_says_why():
    records = [record("fp32", ipj=100, p99=4.0), record("int8", ipj=900, p99=12.0)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, Constraints(sla_p99_ms=5))
    slow = "int8/local-myhost/b8"
    assert ranking.rank(slow) is None
    assert ranking.meets_sla(slow) is False
    assert "p99 12 ms exceeds the 5 ms SLA" in ranking.reasons(slow)
    assert ranking.rank("fp32/local-myhost/b8") == 0 and ranking.meets_sla("fp32/local-myhost/b8") is True


def test_max_accuracy_loss_excludes():
    records = [record("fp32", ipj=100, loss=0.0), record("int8", ipj=900, loss=0.02)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, Constraints(max_accuracy_loss=0.01))
    assert ranking.rank("int8/local-myhost/b8") is None
    assert "accuracy loss 2 pp exceeds the 1 pp limit" in ranking.reasons("int8/local-myhost/b8")
    assert ranking.rank("fp32/local-myhost/b8") == 0


def test_fidelity_loss_over_the_limit_is_named_as_such():
    records = [record("int8", loss=None, agreement=0.95)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, Constraints(max_accuracy_loss=0.01))
    assert "fidelity loss 5 pp exceeds the 1 pp limit" in ranking.reasons("int8/local-myhost/b8")


def test_constraint_without_the_figure_excludes():
    records = [record("fp32", p99=None), record("int8", accuracy=False)]
    ranking = rank_records(records, DEFAULT_OBJECTIVES, Constraints(sla_p99_ms=5, max_accuracy_loss=0.01))
    assert ranking.rank("fp32/local-myhost/b8") is None
    assert ranking.meets_sla("fp32/local-myhost/b8") is None
    assert any("no p99 latency" in n for n in ranking.reasons("fp32/local-myhost/b8"))
    assert any("no accuracy figure" in n for n in ranking.reasons("int8/local-myhost/b8"))


def test_constraints_are_checked():
    with pytest.raises(ValueError, match="sla_p99_ms"):
        Constraints(sla_p99_ms=0)
    with pytest.raises(ValueError, match="max_accuracy_loss"):
        Constraints(max_accuracy_loss=math.nan)


def test_the_default_budget_applies_unless_the_user_set_one():
    budget = Constraints().with_default_budget()
    assert (budget.max_accuracy_loss, budget.accuracy_budget_origin, budget.budget_is_default) == (
        0.01,
        "default",
        True,
    )
    mine = Constraints(max_accuracy_loss=0.05)
    assert mine.with_default_budget() is mine and not mine.budget_is_default
    records = [record("fp32", loss=0.0), record("int8", ipj=900, loss=0.02), record("no-eval", accuracy=False)]
    ranking = rank_records(records, CLASSIC_OBJECTIVES, budget)
    assert ranking.reasons("int8/local-myhost/b8") == ("accuracy loss 2 pp exceeds the 1 pp default limit",)
    # A record without an accuracy figure is not held to a budget nobody set (it lacks the loss objective).
    assert not any("accuracy figure" in r for r in ranking.reasons("no-eval/local-myhost/b8"))


def test_an_embedding_build_at_cosine_096_is_outside_the_default_budget():
    # design.md: a sentence encoder's dynamic INT8 build kept cosine 0.96 and won the front without a budget.
    def cosine_record(variant, cosine, ipj):
        r = record(variant, ipj=ipj, loss=None, agreement=0.64)
        acc = dataclasses.replace(r.accuracy, loss=1 - cosine, loss_kind="cosine", cosine=cosine)
        return dataclasses.replace(r, accuracy=acc)

    records = [cosine_record("fp32", 1.0, 100.0), cosine_record("int8-dynamic", 0.96, 400.0)]
    assert rank_records(records, CLASSIC_OBJECTIVES).rank("int8-dynamic/local-myhost/b8") == 0  # no budget: it wins
    ranking = rank_records(records, CLASSIC_OBJECTIVES, Constraints().with_default_budget())
    assert ranking.rank("int8-dynamic/local-myhost/b8") is None
    assert ranking.reasons("int8-dynamic/local-myhost/b8") == (
        "cosine 0.96 is below the 0.99 the default budget allows (loss 0.04 > 0.01)",
    )


def test_memory_is_a_constraint():
    from pipeline.roofline import MemoryFit

    big = dataclasses.replace(
        record("big"), memory_fit=MemoryFit(need_bytes=9e9, capacity_bytes=8e9, capacity_provenance="profile")
    )
    small = dataclasses.replace(
        record("small"), memory_fit=MemoryFit(need_bytes=2e6, capacity_bytes=8e9, capacity_provenance="profile")
    )
    ranking = rank_records([big, small], CLASSIC_OBJECTIVES)
    assert ranking.reasons("big/local-myhost/b8") == ("needs 9,000 MB per query, more than the device's 8,000 MB",)
    limited = rank_records([big, small], CLASSIC_OBJECTIVES, Constraints(max_memory_mb=1.0))
    assert "needs 2 MB per query, over the 1 MB limit" in limited.reasons("small/local-myhost/b8")
