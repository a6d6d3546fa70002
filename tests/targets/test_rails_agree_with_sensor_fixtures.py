"""The Jetson rail names in targets/ agree with the fake sysfs the power-sensor tests use."""

from __future__ import annotations

import pytest

from targets import load_profiles

fake_sysfs = pytest.importorskip(
    "tests.agent.power.fake_sysfs",
    reason="tests/agent/power/fake_sysfs.py (the power-sensor fixtures) is not present",
)

PROFILES = load_profiles(include_env=False)


def test_every_jetson_profile_has_a_board_fixture_and_back():
    jetsons = {pid for pid, p in PROFILES.items() if p.kind == "jetson"}
    assert set(fake_sysfs.JETSON_BOARDS) == jetsons


@pytest.mark.parametrize("board_id", sorted(fake_sysfs.JETSON_BOARDS))
def test_rail_names_and_total_agree(board_id):
    sensing = PROFILES[board_id].power_sensing
    assert list(sensing.rails) == fake_sysfs.rail_names(board_id)
    assert sensing.total_rail == fake_sysfs.JETSON_TOTAL_RAIL[board_id]
    assert sensing.total_is_sum == (fake_sysfs.JETSON_TOTAL_RAIL[board_id] is None)
