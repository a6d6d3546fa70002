"""Measured candidates and projections (pipeline/planner/candidates.py)."""

from __future__ import annotations

import pytest

from pipeline.constraints import Constraints
from pipeline.planner.candidates import measured_candidates, project, projected_candidates
from pipeline.roofline import RooflineUnavailable

from .measured import PROFILES, measured, tiny_cnn_counts, with_figures


@pytest.fixture(scope="module")
def counts(tmp_path_factory) -> dict:
    return tiny_cnn_counts(tmp_path_factory.mktemp("candidates"), variants=("fp32", "int8"))


def test_one_candidate_per_build_and_device_with_its_measured_latencies(counts):
    records = with_figures([measured("fp32", 1, 0.5), measured("fp32", 8, 2.0)], counts)
    (candidate,), left_out = measured_candidates(records, PROFILES, Constraints().with_default_budget())
    assert (candidate.kind, candidate.target, candidate.device_id) == ("measured", "raspberry-pi-5", "pi-01")
    assert candidate.service.batch_sizes == (1, 8) and candidate.service.p99_s(8) == pytest.approx(0.002)
    active, idle = candidate.power[8]
    assert active.value == 6.0 and idle.value == 3.0 and left_out == []


def test_a_projection_keeps_the_measured_fraction_of_the_roofline(counts):
    pi = with_figures([measured("fp32", 1, 0.5), measured("fp32", 8, 2.0)], counts)
    t4 = PROFILES["nvidia-t4"]
    candidate = project(pi, t4)
    assert candidate.kind == "projected" and candidate.device_id is None and candidate.target == "nvidia-t4"
    for r in pi:
        roof = r.roofline
        # On the T4, the same fraction of the T4's bound: the T4's FP32 8.1 TFLOPS and 320 GB/s.
        moved = roof.weight_bytes + roof.activation_bytes_per_inference * r.batch_size
        t4_bound = r.batch_size / max(roof.flops_per_inference * r.batch_size / 8.1e12, moved / 320e9)
        projected_ms = r.batch_size / (roof.fraction * t4_bound) * 1000
        assert candidate.service.p99_s(r.batch_size) * 1000 == pytest.approx(projected_ms)
    assert candidate.power[1][0].value == 70.0 and candidate.power[1][1].value == 10.0  # limit and idle figure
    assert "projected from fp32 measured on pi-01" in candidate.assumption
    assert "busy power at the 70 W power limit" in candidate.assumption


def test_a_projection_needs_a_roofline_and_the_precision(counts):
    without = with_figures([measured("fp32", 1, 0.5)], {})
    with pytest.raises(RooflineUnavailable, match="no roofline figure to project from"):
        project(without, PROFILES["nvidia-t4"])
    int8 = with_figures([measured("int8", 1, 0.5, precision="int8")], counts)
    with pytest.raises(RooflineUnavailable, match="intel-ncs2 runs no int8"):
        project(int8, PROFILES["intel-ncs2"])


def test_projections_onto_each_target_with_the_refusals_named(counts):
    records = with_figures([measured("fp32", 1, 0.5), measured("int8", 1, 0.4, precision="int8")], counts)
    measured_ones, _ = measured_candidates(records, PROFILES, Constraints())
    out, refused = projected_candidates(measured_ones, records, [PROFILES["nvidia-l4"], PROFILES["intel-ncs2"]])
    assert sorted((c.target, c.variant_id) for c in out) == [("nvidia-l4", "fp32"), ("nvidia-l4", "int8")]
    # The stick computes in FP16 only: neither build is projected onto it, and each refusal says why.
    assert refused == [
        "fp32 onto intel-ncs2: intel-ncs2 runs no fp32 (its profile lists fp16)",
        "int8 onto intel-ncs2: intel-ncs2 runs no int8 (its profile lists fp16)",
    ]
