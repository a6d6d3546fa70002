"""Cost per inference (pipeline/cost.py): amortisation or rental, power at the load, every input sourced."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from agent.protocol import PowerReport
from pipeline.cost import (
    DEFAULT_AMORTISATION,
    HOURS_PER_MONTH,
    CostOptions,
    CostUnavailable,
    load_utilisation_summary,
    record_cost,
)
from pipeline.derive import load_target_profiles

from .sample_results import record

PROFILES = load_target_profiles()


def on(target: str, *, tput: float, avg_w: float | None, idle_w: float | None = None, **kwargs):
    """A record of ``target`` at ``tput`` inf/s drawing ``avg_w`` (measured, INA3221) with ``idle_w``."""
    r = record("int8", tput=tput, estimated=False, source="ina3221:VDD_IN", **kwargs)
    power = None
    if avg_w is not None:
        power = PowerReport(
            avg_w=avg_w, source="ina3221:VDD_IN", estimated=False, samples=200, rate_hz=100.0, energy_j=avg_w * 2.0,
            idle_w=idle_w, method="INA3221 VDD_IN",
        )  # fmt: skip
    return dataclasses.replace(r, target=target, power=power)


def test_cost_per_million_by_hand_for_one_jetson_build():
    # Orin Nano developer kit: $249 (nvidia-orin-nano-super), written off over the default 36 months;
    # 10 W measured over the window, 3.5 W idle measured before it; 0.20 USD/kWh; PUE 1.0 at the edge.
    r = on("jetson-orin-nano-8gb", tput=500.0, avg_w=10.0, idle_w=3.5)
    cost = record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions(electricity_usd_per_kwh=0.20, utilisation=0.2))

    hardware = 249 / (36 * 730)  # 0.009474885844748858 USD/h
    energy_full = 10 / 1000 * 0.20 * 1.0  # 0.002 USD/h
    assert cost.pricing == "purchase"
    assert cost.hardware_usd_per_hour == pytest.approx(hardware)
    assert cost.energy_usd_per_hour_full_load == pytest.approx(energy_full)
    assert cost.usd_per_million_full_load == pytest.approx((hardware + energy_full) / (500 * 3600) * 1e6)
    assert cost.usd_per_million_full_load == pytest.approx(0.0063749, rel=1e-4)
    # At 20% utilisation: 0.2 x 10 W + 0.8 x 3.5 W = 4.8 W on average; the amortisation is paid regardless.
    assert cost.average_w_at_load == pytest.approx(4.8)
    at_load = (hardware + 4.8 / 1000 * 0.20) / (0.2 * 500 * 3600) * 1e6
    assert cost.usd_per_million_at_load == pytest.approx(at_load)
    assert cost.usd_per_million_at_load == pytest.approx(0.028986, rel=1e-4)
    assert cost.usd_per_million_at_load > 4 * cost.usd_per_million_full_load  # idling costs


def test_every_input_says_where_it_came_from():
    r = on("jetson-orin-nano-8gb", tput=500.0, avg_w=10.0, idle_w=3.5)
    cost = record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions(electricity_usd_per_kwh=0.20))
    by_name = {i.name: i for i in cost.inputs}
    assert by_name["purchase_price"].provenance == "jetson-orin-nano-8gb price.purchase: nvidia-orin-nano-super"
    assert not by_name["purchase_price"].estimated
    assert by_name["electricity_price"].provenance == "--electricity-price"
    assert by_name["amortisation"].value == DEFAULT_AMORTISATION[0] == 36
    assert by_name["amortisation"].provenance.startswith("default: a common 3-year")
    assert by_name["pue"].value == 1.0 and "edge device has no cooling plant" in by_name["pue"].provenance
    assert by_name["active_power"].provenance.startswith("measured: ina3221:VDD_IN")
    assert by_name["idle_power"].provenance == "measured before the job: ina3221:VDD_IN"
    assert cost.estimated  # the amortisation period and the PUE are defaults
    assert "utilisation" not in by_name and cost.usd_per_million_at_load is None


def test_a_datacentre_gpu_is_rented_by_default_and_its_price_includes_power():
    r = on("nvidia-t4", tput=1000.0, avg_w=60.0)
    cost = record_cost(r, PROFILES["nvidia-t4"], CostOptions())
    assert cost.pricing == "rental"
    assert cost.hardware_usd_per_hour == 0.35 and cost.energy_usd_per_hour_full_load == 0.0
    assert cost.usd_per_million_full_load == pytest.approx(0.35 / 3.6)
    assert {i.name for i in cost.inputs} == {"rental_price", "active_power", "idle_power"}
    # Asked to buy it instead: the purchase estimate, the default PUE of a data centre.
    bought = record_cost(r, PROFILES["nvidia-t4"], CostOptions(pricing="purchase"))
    pue = {i.name: i for i in bought.inputs}["pue"]
    assert bought.pricing == "purchase" and pue.value == 1.5
    assert bought.hardware_usd_per_hour == pytest.approx(2400 / (36 * HOURS_PER_MONTH))


def test_a_user_price_wins_over_the_profile():
    r = on("nvidia-t4", tput=1000.0, avg_w=60.0)
    cost = record_cost(r, PROFILES["nvidia-t4"], CostOptions(purchase_usd=1000.0, amortisation_months=12))
    assert cost.pricing == "purchase"
    assert cost.hardware_usd_per_hour == pytest.approx(1000 / (12 * 730))
    assert {i.name: i.provenance for i in cost.inputs}["purchase_price"] == "--purchase-price"


def test_a_rate_sets_each_builds_utilisation():
    r = on("jetson-orin-nano-8gb", tput=500.0, avg_w=10.0, idle_w=3.5)
    cost = record_cost(
        r, PROFILES["jetson-orin-nano-8gb"], CostOptions(load_rate_per_s=50.0, load_rate_origin="--rate 50/s")
    )
    assert cost.utilisation == pytest.approx(0.1)
    assert cost.utilisation_origin == "--rate 50/s over this build's 500 inf/s"
    saturated = record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions(load_rate_per_s=5000.0))
    assert saturated.utilisation == 1.0 and "more are needed" in (saturated.utilisation_origin or "")


def test_power_above_idle_gets_the_idle_power_added():
    r = record("int8", tput=100.0, ipj=10.0)  # estimate:cpu-load, 10 W
    r = dataclasses.replace(
        r,
        target="raspberry-pi-5",
        power=dataclasses.replace(r.power, method="CPU busy x W per core; power above idle only"),
    )
    cost = record_cost(r, PROFILES["raspberry-pi-5"], CostOptions())
    active = {i.name: i for i in cost.inputs}["active_power"]
    assert active.value == pytest.approx(10.0 + 3.0)  # the Pi 5's idle estimate added back
    assert active.estimated and "plus the idle 3 W" in active.provenance


def test_an_estimate_known_above_idle_only_gets_the_profiles_idle_power_added():
    # the agent's CPU-load estimate with no idle figure: no gross power, only the part above idle
    r = record("int8", tput=100.0, ipj=10.0)
    power = dataclasses.replace(r.power, avg_w=None, energy_j=None, above_idle_w=7.0, idle_w=None)
    r = dataclasses.replace(r, target="raspberry-pi-5", power=power)
    cost = record_cost(r, PROFILES["raspberry-pi-5"], CostOptions())
    active = {i.name: i for i in cost.inputs}["active_power"]
    assert active.value == pytest.approx(7.0 + 3.0) and active.estimated
    assert "above idle, plus the idle 3 W" in active.provenance and "raspberry-pi-5" in active.provenance
    with pytest.raises(CostUnavailable, match="no power figure"):  # no profile idle figure: no made-up gross power
        record_cost(dataclasses.replace(r, target=""), None, CostOptions())


def test_without_a_power_reading_the_profile_limit_stands_in_as_an_upper_bound():
    r = on("jetson-orin-nano-8gb", tput=500.0, avg_w=None)
    cost = record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions())
    active = {i.name: i for i in cost.inputs}["active_power"]
    assert active.value == 15.0 and active.estimated and "upper bound" in active.provenance


def test_what_is_missing_is_named_with_the_fix():
    r = on("generic-x86_64", tput=100.0, avg_w=20.0)
    with pytest.raises(CostUnavailable, match=r"no purchase price for generic-x86_64: pass --purchase-price USD"):
        record_cost(r, PROFILES["generic-x86_64"], CostOptions())
    with pytest.raises(CostUnavailable, match="--rental-price"):
        record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions(pricing="rental"))
    with pytest.raises(CostUnavailable, match="no power figure"):
        record_cost(
            on("generic-x86_64", tput=100.0, avg_w=None), PROFILES["generic-x86_64"], CostOptions(purchase_usd=1)
        )


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("pue", 0.9, "--pue"), ("electricity_usd_per_kwh", 0.0, "--electricity-price"),
     ("amortisation_months", math.inf, "--amortisation-months"), ("rental_usd_per_h", -1.0, "--rental-price"),
     ("utilisation", 1.5, "--utilisation"), ("pricing", "lease", "--pricing")],
)  # fmt: skip
def test_bad_options_name_the_flag(field, value, flag):
    with pytest.raises(ValueError, match=flag):
        CostOptions(**{field: value})


def test_a_monitor_summary_gives_the_utilisation(tmp_path):
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({"utilisation": 0.25, "window_s": 86400}), encoding="utf-8")
    assert load_utilisation_summary(path) == (0.25, f"monitor summary {path} over 86,400 s")
    path.write_text(json.dumps({"utilisation": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'utilisation' must be the busy fraction in \(0, 1\]"):
        load_utilisation_summary(path)
    with pytest.raises(ValueError, match="cannot read the monitor summary"):
        load_utilisation_summary(tmp_path / "absent.json")


def _spread(**figures: tuple[float, float]):
    """A two-window spread with ``figures``' (low, high) as each figure's interval."""
    from pipeline.repeats import Spread, figure_spread

    return Spread(n=2, windows=2, figures={name: figure_spread(list(span)) for name, span in figures.items()})


def test_the_cost_interval_over_repeats_moves_with_power_as_well_as_throughput():
    from pipeline.objectives import COST_PER_MILLION

    # two windows: 450 and 550 inf/s, 9 W and 11 W; the representative window drew 10 W at the median 500
    r = on("jetson-orin-nano-8gb", tput=500.0, avg_w=10.0, idle_w=3.5)
    r = dataclasses.replace(r, spread=_spread(throughput_ips=(450.0, 550.0), power_avg_w=(9.0, 11.0)))
    cost = record_cost(r, PROFILES["jetson-orin-nano-8gb"], CostOptions(electricity_usd_per_kwh=0.20))
    r = dataclasses.replace(r, cost=cost)
    hardware = 249 / (36 * 730)
    low, high = COST_PER_MILLION.interval(r)
    assert low == pytest.approx((hardware + 9 / 1000 * 0.20) / (550 * 3600) * 1e6)  # fastest and frugal
    assert high == pytest.approx((hardware + 11 / 1000 * 0.20) / (450 * 3600) * 1e6)  # slowest and hungry
    assert low < cost.usd_per_million_full_load < high
    # one power reading only (no power interval): the power is held, the throughput still moves it
    held = dataclasses.replace(r, spread=_spread(throughput_ips=(450.0, 550.0)))
    assert COST_PER_MILLION.interval(held) == pytest.approx(
        ((hardware + 10 / 1000 * 0.20) / (550 * 3600) * 1e6, (hardware + 10 / 1000 * 0.20) / (450 * 3600) * 1e6)
    )
