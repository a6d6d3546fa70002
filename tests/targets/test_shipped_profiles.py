"""Every shipped profile validates, uses the fixed units, and sources or marks every figure."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from targets import SHIPPED_DIR, UNITS, load_profiles
from targets.schema import FLOAT_PRECISIONS, INT_PRECISIONS, PRECISIONS

EXPECTED_IDS = {
    "jetson-nano-4gb",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-orin-nano-8gb",
    "jetson-orin-nx-16gb",
    "jetson-agx-orin-64gb",
    "intel-ncs2",
    "intel-core-ultra-npu",
    "raspberry-pi-5",
    "generic-x86_64",
    "nvidia-t4",
    "nvidia-l4",
    "nvidia-l40s",
    "nvidia-a100-80gb",
    "nvidia-h100",
}
JETSONS = sorted(i for i in EXPECTED_IDS if i.startswith("jetson-"))
GPUS = sorted(i for i in EXPECTED_IDS if i.startswith("nvidia-"))
# Profiles allowed to leave idle power or purchase price out, and why (said in the profile's notes/summary).
NO_IDLE = {"intel-ncs2", "generic-x86_64"}
NO_PRICE = {"generic-x86_64"}


@pytest.fixture(scope="module")
def catalog():
    return load_profiles(include_env=False)


def test_the_fixed_ids_are_shipped_one_file_each(catalog):
    assert set(catalog) == EXPECTED_IDS
    for pid, profile in catalog.items():
        assert profile.path.name == f"{pid}.yaml"
        assert profile.origin == "shipped"
        assert profile.path.parent == SHIPPED_DIR
    assert catalog.notes == ()


@pytest.mark.parametrize("pid", sorted(EXPECTED_IDS))
def test_every_figure_has_a_source_or_is_an_estimate_with_a_basis(catalog, pid):
    profile = catalog[pid]
    for field, fig in profile.figures():
        if fig.estimate:
            assert fig.basis, f"{pid} {field}: an estimate needs a basis"
        else:
            assert fig.source is not None, f"{pid} {field}: no source and not marked estimate"
            assert fig.source.key in profile.sources
            if fig.source.key != "this-machine":  # generic-x86_64's figures read from /proc at load time
                assert re.match(r"^https?://", fig.source.url), f"{pid} {field}: {fig.source.url}"


@pytest.mark.parametrize("pid", sorted(EXPECTED_IDS))
def test_units_are_the_fixed_unit_of_each_quantity(catalog, pid):
    profile = catalog[pid]
    for mode in profile.power_modes:
        if mode.limit is not None:
            assert mode.limit.unit == UNITS["power"] == "W"
        if mode.memory_bandwidth is not None:
            assert mode.memory_bandwidth.unit == UNITS["memory_bandwidth"] == "GB/s"
        for precision, fig in mode.peak_compute.items():
            assert precision in PRECISIONS
            if precision in INT_PRECISIONS:
                assert fig.unit == "TOPS", (pid, mode.name, precision)
            else:
                assert precision in FLOAT_PRECISIONS
                assert fig.unit == "TFLOPS", (pid, mode.name, precision)
            assert fig.value > 0
    if profile.memory_capacity is not None:
        assert profile.memory_capacity.unit == "GB"
    if profile.idle_power is not None:
        assert profile.idle_power.unit == "W"
    if profile.price.purchase is not None:
        assert profile.price.purchase.unit == "USD"
    if profile.price.rental_hourly is not None:
        assert profile.price.rental_hourly.unit == "USD/h"


@pytest.mark.parametrize("pid", sorted(EXPECTED_IDS))
def test_every_source_is_dated_and_used(catalog, pid):
    profile = catalog[pid]
    used = {fig.source.key for _, fig in profile.figures() if fig.source is not None}
    if profile.power_sensing.source is not None:
        used.add(profile.power_sensing.source.key)
    today = datetime.date.today()
    for key, source in profile.sources.items():
        assert datetime.date.fromisoformat(source.retrieved) <= today
        assert key in used, f"{pid}: source {key!r} is listed but no figure cites it"


@pytest.mark.parametrize("pid", sorted(EXPECTED_IDS))
def test_profile_is_complete(catalog, pid):
    profile = catalog[pid]
    assert profile.runtimes, pid
    assert profile.power_modes, pid
    assert sum(m.default for m in profile.power_modes) == 1, f"{pid}: exactly one default mode"
    assert profile.precisions, pid
    if pid not in NO_IDLE:
        assert profile.idle_power is not None, pid
    if pid not in NO_PRICE:
        assert profile.price.purchase is not None, pid
    if pid != "generic-x86_64":
        assert not profile.match.empty, f"{pid}: device_match could never find it"
    json.dumps(profile.to_dict())  # JSON-ready


@pytest.mark.parametrize("pid", JETSONS)
def test_jetsons_read_power_from_ina3221_and_name_jetpack(catalog, pid):
    profile = catalog[pid]
    assert profile.power_sensing.sensor == "ina3221"
    assert profile.power_sensing.rails
    assert any(line.name == "JetPack" for line in profile.software)
    assert profile.supports("tensorrt")
    assert profile.memory_bandwidth() is not None
    # the board's headline figure is sourced, not estimated
    assert any(not f.estimate for f in profile.default_mode.peak_compute.values())


@pytest.mark.parametrize("pid", GPUS)
def test_datacenter_gpus_carry_purchase_and_rental_prices(catalog, pid):
    profile = catalog[pid]
    assert profile.kind == "datacenter-gpu"
    assert profile.price.purchase is not None and profile.price.rental_hourly is not None
    assert profile.power_sensing.sensor == "nvml"
    assert profile.memory_bandwidth() is not None and not profile.memory_bandwidth().estimate
    assert profile.default_mode.limit is not None and not profile.default_mode.limit.estimate
    assert profile.match.gpu_names


def test_orin_nano_has_the_jetpack_62_super_mode(catalog):
    nano = catalog["jetson-orin-nano-8gb"]
    sup = nano.mode("maxn_super")
    assert sup.requires == "JetPack 6.2"
    assert sup.limit.value == 25
    assert nano.peak_compute("int8", "MAXN_SUPER").value == 67
    assert nano.peak_compute("int8", "MAXN_SUPER").sparse
    assert nano.peak_compute("int8", "MAXN_SUPER").dense_value == 33.5
    assert nano.memory_bandwidth("MAXN_SUPER").value == 102
    assert nano.peak_compute("int8").value == 40  # default mode 15W
    with pytest.raises(KeyError, match="MAXN_SUPER"):
        nano.mode("60W")


def test_ncs2_is_myriad_on_openvino_2022_3_without_a_sensor(catalog):
    ncs2 = catalog["intel-ncs2"]
    (openvino,) = [r for r in ncs2.runtimes if r.name == "openvino"]
    assert "MYRIAD" in openvino.devices
    assert any(v.startswith("2022.3") for v in openvino.versions)
    assert ncs2.precisions == ("fp16",)
    assert ncs2.power_sensing.sensor == "none"
    assert ncs2.power_sensing.total_rail is None and not ncs2.power_sensing.rails
    assert "03e7:2485" in ncs2.match.usb_ids


def test_sum_of_rails_only_on_the_agx_boards(catalog):
    for pid in JETSONS:
        ps = catalog[pid].power_sensing
        assert ps.total_is_sum == (ps.total_rail is None), pid
    assert catalog["jetson-agx-orin-64gb"].power_sensing.total_is_sum
    assert catalog["jetson-agx-xavier"].power_sensing.total_is_sum


def test_estimates_are_visible_as_such(catalog):
    pi = catalog["raspberry-pi-5"]
    fp32 = pi.peak_compute("fp32")
    assert fp32.estimate and "(estimate)" in str(fp32) and fp32.provenance.startswith("estimate: ")
    bw = pi.memory_bandwidth()
    assert bw.derived and not bw.estimate and bw.provenance.startswith("derived from rpi5-launch")
