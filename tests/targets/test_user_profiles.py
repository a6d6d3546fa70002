"""The user's own profiles: merged with the shipped ones, winning by id, with a note."""

from __future__ import annotations

import os

import pytest

from targets import ENV_VAR, ProfileError, UnknownTargetError, load_profiles

from .conftest import shipped_data


def test_user_profile_overrides_shipped_by_id_with_a_note(write_profile):
    data = shipped_data("jetson-nano-4gb")
    data["name"] = "My Nano on a custom carrier"
    path = write_profile(data)
    catalog = load_profiles(extra_dirs=[path.parent], include_env=False)
    nano = catalog["jetson-nano-4gb"]
    assert nano.name == "My Nano on a custom carrier"
    assert nano.origin == "user"
    assert nano.overrides is not None and nano.overrides.name == "jetson-nano-4gb.yaml"
    assert len(catalog.notes) == 1
    assert str(path) in catalog.notes[0] and "overrides the shipped one" in catalog.notes[0]
    assert catalog["jetson-orin-nano-8gb"].origin == "shipped"


def test_user_profile_with_a_new_id_is_added(write_profile):
    data = shipped_data("raspberry-pi-5")
    data["id"] = "raspberry-pi-5-4gb"
    data["memory_capacity"]["value"] = 4
    path = write_profile(data)
    catalog = load_profiles(extra_dirs=[path.parent], include_env=False)
    assert "raspberry-pi-5-4gb" in catalog and "raspberry-pi-5" in catalog
    assert catalog.notes == ()


def test_environment_variable_names_user_folders(write_profile, monkeypatch, tmp_path):
    data = shipped_data("nvidia-t4")
    data["price"]["rental_hourly"] = {"value": 0.2, "unit": "USD/h", "estimate": True, "basis": "our negotiated rate"}
    path = write_profile(data)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(other), str(path.parent)]))
    catalog = load_profiles()
    assert catalog["nvidia-t4"].price.rental_hourly.value == 0.2
    assert catalog["nvidia-t4"].origin == "user"
    assert load_profiles(include_env=False)["nvidia-t4"].origin == "shipped"


def test_later_folder_wins_and_says_so(write_profile, tmp_path):
    first = shipped_data("nvidia-l4")
    first["name"] = "first"
    second = shipped_data("nvidia-l4")
    second["name"] = "second"
    a = write_profile(first, folder=tmp_path / "a")
    b = write_profile(second, folder=tmp_path / "b")
    catalog = load_profiles(extra_dirs=[a.parent, b.parent], include_env=False)
    assert catalog["nvidia-l4"].name == "second"
    assert any("later folders win" in note for note in catalog.notes)


def test_missing_user_folder_is_an_error(tmp_path):
    with pytest.raises(ProfileError, match="no such folder"):
        load_profiles(extra_dirs=[tmp_path / "nope"], include_env=False)


def test_malformed_user_profile_stops_the_load_naming_the_file(write_profile):
    data = shipped_data("nvidia-h100")
    data["power_modes"][0]["limit"]["unit"] = "kW"
    path = write_profile(data)
    with pytest.raises(ProfileError) as info:
        load_profiles(extra_dirs=[path.parent], include_env=False)
    assert info.value.file == str(path)
    assert info.value.field == "power_modes[0].limit.unit"


def test_unknown_id_lists_the_known_ones():
    catalog = load_profiles(include_env=False)
    with pytest.raises(UnknownTargetError) as info:
        catalog.require("jetson-tx2")
    assert "jetson-tx2" in str(info.value)
    assert "jetson-nano-4gb" in str(info.value) and "nvidia-h100" in str(info.value)
    assert isinstance(info.value, KeyError)
