"""A malformed profile is refused with a message naming the file, the field and the expected form."""

from __future__ import annotations

import pytest

from targets import ProfileError, load_profile

from .conftest import shipped_data


def _load_broken(write_profile, mutate, base="jetson-orin-nano-8gb"):
    data = shipped_data(base)
    mutate(data)
    path = write_profile(data)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return path, info.value


def test_wrong_type_names_file_field_and_expected_form(write_profile):
    def mutate(d):
        d["power_modes"][1]["limit"]["value"] = "fifteen"

    path, err = _load_broken(write_profile, mutate)
    assert err.file == str(path)
    assert err.field == "power_modes[1].limit.value"
    assert str(path) in str(err)
    assert "field 'power_modes[1].limit.value': expected a number; got 'fifteen' (str)" in str(err)


def test_missing_field(write_profile):
    path, err = _load_broken(write_profile, lambda d: d.pop("name"))
    assert err.field == "name"
    assert str(err) == f"{path}: field 'name': expected a non-empty string; got nothing (field missing or empty)"


def test_bad_unit_names_the_one_unit_expected(write_profile):
    def mutate(d):
        d["power_modes"][0]["memory_bandwidth"]["unit"] = "GB/sec"

    path, err = _load_broken(write_profile, mutate)
    assert err.field == "power_modes[0].memory_bandwidth.unit"
    assert "expected 'GB/s'" in str(err) and "'GB/sec'" in str(err)


def test_compute_unit_follows_the_precision(write_profile):
    def mutate(d):
        d["power_modes"][0]["peak_compute"]["int8"]["unit"] = "TFLOPS"

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_modes[0].peak_compute.int8.unit"
    assert "expected 'TOPS'" in str(err)


def test_figure_without_source_or_estimate_is_refused(write_profile):
    def mutate(d):
        del d["power_modes"][0]["limit"]["source"]

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_modes[0].limit"
    assert "'source'" in str(err) and "estimate: true" in str(err)


def test_estimate_needs_a_basis(write_profile):
    def mutate(d):
        del d["idle_power"]["basis"]

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "idle_power.basis"


def test_unknown_source_key_lists_the_known_ones(write_profile):
    def mutate(d):
        d["price"]["purchase"]["source"] = "nvidia-store"

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "price.purchase.source"
    assert "nvidia-orin-nano-super" in str(err) and "'nvidia-store'" in str(err)


def test_misspelt_field_is_refused_with_the_known_fields(write_profile):
    def mutate(d):
        d["power_mode"] = d.pop("power_modes")

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_mode"
    assert "power_modes" in str(err)


def test_unknown_precision(write_profile):
    def mutate(d):
        d["power_modes"][0]["peak_compute"]["int3"] = {"value": 1, "unit": "TOPS", "estimate": True, "basis": "x"}

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_modes[0].peak_compute.int3"
    assert "int8" in str(err)


def test_total_rail_must_be_one_of_the_rails(write_profile):
    def mutate(d):
        d["power_sensing"]["total_rail"] = "VDD_TOTAL"

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_sensing.total_rail"
    assert "VDD_IN" in str(err)


def test_retrieval_date_must_be_iso(write_profile):
    def mutate(d):
        d["sources"]["orin-nano-datasheet"]["retrieved"] = "last week"

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "sources.orin-nano-datasheet.retrieved"
    assert "YYYY-MM-DD" in str(err)


def test_datacenter_gpu_needs_a_rental_price(write_profile):
    _, err = _load_broken(write_profile, lambda d: d["price"].pop("rental_hourly"), base="nvidia-t4")
    assert err.field == "price.rental_hourly"


def test_power_modes_must_not_be_empty(write_profile):
    def mutate(d):
        d["power_modes"] = []

    _, err = _load_broken(write_profile, mutate)
    assert err.field == "power_modes"


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("schema: 1\nid: x\nname: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert "YAML syntax, line" in info.value.field


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="expected a mapping"):
        load_profile(path)


def test_schema_version_is_checked(write_profile):
    _, err = _load_broken(write_profile, lambda d: d.update(schema=2))
    assert err.field == "schema"
