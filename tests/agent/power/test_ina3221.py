from __future__ import annotations

import pytest

from agent.errors import SensorError
from agent.power.ina3221 import DEFAULT_RATE_HZ, MAX_RATE_HZ, INA3221Sensor, choose_total

from .fake_sysfs import (
    JETSON_BOARDS,
    JETSON_LAYOUTS,
    JETSON_TOTAL_RAIL,
    jetson_chip_dir,
    make_jetson_sysfs,
    rail_names,
    set_jetson_rails,
)

pytestmark = pytest.mark.jetson


def test_fixture_tables_agree():
    assert set(JETSON_BOARDS) == set(JETSON_LAYOUTS) == set(JETSON_TOTAL_RAIL)
    for board, chips in JETSON_BOARDS.items():
        assert len(chips) == len(JETSON_LAYOUTS[board][1])
        assert all(len(chip) == 3 for chip in chips)  # an INA3221 has three channels


@pytest.mark.parametrize("board", sorted(JETSON_BOARDS))
def test_discovers_every_connected_rail_of_each_board(tmp_path, board):
    # setup
    sysfs = make_jetson_sysfs(tmp_path, board, {})
    # execute
    sensor = INA3221Sensor(sysfs_root=sysfs)
    # assert
    assert [r.label for r in sensor.rails] == rail_names(board)
    assert "NC" not in [r.label for r in sensor.rails]
    assert {r.layout for r in sensor.rails} == {JETSON_LAYOUTS[board][0]}
    assert sensor.total_rail == JETSON_TOTAL_RAIL[board]
    if JETSON_TOTAL_RAIL[board] is None:
        assert sensor.source == "ina3221:sum"
        assert "no module input rail" in sensor.method
    else:
        assert sensor.source == f"ina3221:{JETSON_TOTAL_RAIL[board]}"
    assert not sensor.estimated


def test_orin_nano_power_is_volts_times_amps_of_vdd_in(tmp_path):
    values = {"VDD_IN": (5080, 1230), "VDD_CPU_GPU_CV": (5072, 402), "VDD_SOC": (5076, 290)}
    sensor = INA3221Sensor(sysfs_root=make_jetson_sysfs(tmp_path, "jetson-orin-nano-8gb", values))

    sample = sensor.read()

    # mV × mA = µW; / 1e6 = W
    assert sample.power_w == pytest.approx(5.080 * 1.230)
    assert sample.rails_w == pytest.approx(
        {"VDD_IN": 5.080 * 1.230, "VDD_CPU_GPU_CV": 5.072 * 0.402, "VDD_SOC": 5.076 * 0.290}
    )
    assert sample.energy_j is None


def test_agx_orin_total_is_the_sum_of_its_rails(tmp_path):
    values = {
        "VDD_GPU_SOC": (5000, 1000),
        "VDD_CPU_CV": (5000, 600),
        "VIN_SYS_5V0": (4968, 953),
        "VDDQ_VDD2_1V8AO": (4968, 80),
    }
    sensor = INA3221Sensor(sysfs_root=make_jetson_sysfs(tmp_path, "jetson-agx-orin-64gb", values))

    sample = sensor.read()

    expected = 5.0 + 3.0 + 4.968 * 0.953 + 4.968 * 0.080
    assert sample.power_w == pytest.approx(expected)
    assert set(sample.rails_w) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"}
    assert "VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 + VDDQ_VDD2_1V8AO" in sensor.method


def test_agx_xavier_sums_rails_across_two_chips(tmp_path):
    values = {"GPU": (5000, 200), "CPU": (5000, 400), "SOC": (5000, 300), "CV": (5000, 0), "VDDRQ": (5000, 100)}
    sensor = INA3221Sensor(sysfs_root=make_jetson_sysfs(tmp_path, "jetson-agx-xavier", values))

    sample = sensor.read()

    assert sample.power_w == pytest.approx(1.0 + 2.0 + 1.5 + 0.0 + 0.5 + 0.0)  # SYS5V unset: 0 mA
    assert [r.device for r in sensor.rails] == ["1-0040"] * 3 + ["1-0041"] * 3


def test_legacy_nano_reads_the_drivers_power_in_milliwatts(tmp_path):
    values = {"POM_5V_IN": (5000, 1234), "POM_5V_GPU": (5000, 90), "POM_5V_CPU": (5000, 122)}
    sysfs = make_jetson_sysfs(tmp_path, "jetson-nano-4gb", values)
    sensor = INA3221Sensor(sysfs_root=sysfs)

    sample = sensor.read()

    assert sample.power_w == pytest.approx(6.170)  # in_power0_input = 6170 mW
    assert sample.rails_w["POM_5V_GPU"] == pytest.approx(0.450)
    assert all(r.power_mw_path is not None for r in sensor.rails)
    assert "in_power" in sensor.method
    # the file really read is in_power: change it alone and the reading follows
    (jetson_chip_dir(sysfs, "jetson-nano-4gb") / "in_power0_input").write_text("7000\n")
    assert sensor.read().power_w == pytest.approx(7.0)


def test_legacy_layout_without_power_file_falls_back_to_volts_times_amps(tmp_path):
    sysfs = make_jetson_sysfs(tmp_path, "jetson-nano-4gb", {"POM_5V_IN": (5100, 1000)})
    chip = jetson_chip_dir(sysfs, "jetson-nano-4gb")
    for n in range(3):
        (chip / f"in_power{n}_input").unlink()

    sample = INA3221Sensor(sysfs_root=sysfs).read()

    assert sample.power_w == pytest.approx(5.1)


def test_agx_xavier_on_jetpack4_legacy_layout_is_summed_too(tmp_path):
    sysfs = make_jetson_sysfs(tmp_path, "jetson-agx-xavier", {"GPU": (1000, 1000)}, layout="iio")

    sensor = INA3221Sensor(sysfs_root=sysfs)

    assert sensor.total_rail is None
    assert sensor.read().power_w == pytest.approx(1.0)


def test_readings_follow_the_files(tmp_path):
    board = "jetson-orin-nx-16gb"
    sysfs = make_jetson_sysfs(tmp_path, board, {"VDD_IN": (5000, 1000)})
    sensor = INA3221Sensor(sysfs_root=sysfs)
    assert sensor.read().power_w == pytest.approx(5.0)

    set_jetson_rails(sysfs, board, {"VDD_IN": (5000, 3000)})

    assert sensor.read().power_w == pytest.approx(15.0)


def test_nc_label_is_ignored_even_when_the_channel_is_enabled(tmp_path):
    board = "jetson-agx-orin-64gb"
    sysfs = make_jetson_sysfs(tmp_path, board, {})
    chip = jetson_chip_dir(sysfs, board, chip=1)
    (chip / "in1_enable").write_text("1\n")

    sensor = INA3221Sensor(sysfs_root=sysfs)

    assert "NC" not in [r.label for r in sensor.rails]
    assert len(sensor.rails) == 4


def test_unlabelled_disabled_and_sum_channels_are_not_rails(tmp_path):
    board = "jetson-orin-nano-8gb"
    sysfs = make_jetson_sysfs(tmp_path, board, {})
    chip = jetson_chip_dir(sysfs, board)
    (chip / "in3_label").unlink()  # upstream driver: no label file on an unlabelled channel
    (chip / "in2_enable").write_text("0\n")

    sensor = INA3221Sensor(sysfs_root=sysfs)

    assert [r.label for r in sensor.rails] == ["VDD_IN"]  # in7 "sum of shunt voltages" never counts


def test_same_label_on_two_chips_is_kept_apart(tmp_path):
    board = "jetson-agx-xavier"
    sysfs = make_jetson_sysfs(tmp_path, board, {"GPU": (5000, 100)})
    (jetson_chip_dir(sysfs, board, chip=1) / "in1_label").write_text("GPU\n")

    labels = [r.label for r in INA3221Sensor(sysfs_root=sysfs).rails]

    assert "GPU@1-0040" in labels and "GPU@1-0041" in labels


def test_rate_comes_from_update_interval_capped(tmp_path):
    board = "jetson-orin-nano-8gb"
    sysfs = make_jetson_sysfs(tmp_path, board, {})
    chip = jetson_chip_dir(sysfs, board)

    (chip / "update_interval").write_text("125\n")
    assert INA3221Sensor(sysfs_root=sysfs).nominal_rate_hz == pytest.approx(8.0)
    (chip / "update_interval").write_text("6\n")
    assert INA3221Sensor(sysfs_root=sysfs).nominal_rate_hz == MAX_RATE_HZ
    (chip / "update_interval").unlink()
    assert INA3221Sensor(sysfs_root=sysfs).nominal_rate_hz == DEFAULT_RATE_HZ


def test_no_driver_is_a_sensor_error(tmp_path):
    with pytest.raises(SensorError, match="no INA3221 rails"):
        INA3221Sensor(sysfs_root=tmp_path)


def test_a_rail_file_that_vanishes_is_a_sensor_error(tmp_path):
    board = "jetson-orin-nano-8gb"
    sysfs = make_jetson_sysfs(tmp_path, board, {})
    sensor = INA3221Sensor(sysfs_root=sysfs)
    (jetson_chip_dir(sysfs, board) / "curr1_input").unlink()

    with pytest.raises(SensorError, match="VDD_IN"):
        sensor.read()


def test_choose_total_prefers_the_input_rail():
    assert choose_total(["VDD_CPU_GPU_CV", "VDD_IN"]) == "VDD_IN"
    assert choose_total(["POM_5V_GPU", "POM_5V_IN"]) == "POM_5V_IN"
    assert choose_total(["GPU", "CPU"]) is None
