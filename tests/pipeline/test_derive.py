"""Figures derived from each record and its profile (pipeline/derive.py)."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.cost import CostOptions
from pipeline.derive import NO_COUNT_NOTE, derive_figures, load_target_profiles
from pipeline.errors import InputError

from .planner.measured import measured, tiny_cnn_counts

PROFILES = load_target_profiles()


def test_each_figure_is_filled_or_its_absence_noted(tmp_path):
    counts = tiny_cnn_counts(tmp_path)
    (r,) = derive_figures([measured("fp32", 8, 2.0)], PROFILES, counts, CostOptions())
    assert r.cost is not None and r.roofline is not None and r.memory_fit is not None
    (bare,) = derive_figures([measured("fp32", 8, 2.0)], PROFILES, {}, CostOptions())
    assert bare.roofline is None and bare.memory_fit is None and NO_COUNT_NOTE in bare.notes
    unknown = dataclasses.replace(measured("fp32", 8, 2.0), target="")
    (nowhere,) = derive_figures([unknown], PROFILES, counts, CostOptions())
    assert nowhere.cost is None and nowhere.roofline is None
    assert any(
        n.startswith("no cost figure: no purchase price for this device: pass --purchase-price") for n in nowhere.notes
    )
    assert "no roofline: device pi-01 has no target profile (see edgeprof targets ls)" in nowhere.notes


def test_a_malformed_user_profile_is_an_input_error_naming_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("schema: 1\nid: Bad Id\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.yaml: field"):
        load_target_profiles([tmp_path])
