from __future__ import annotations

import pytest

from agent.errors import SensorError
from agent.power.estimate import DEFAULT_WATTS_PER_BUSY_CORE, CPULoadEstimate, read_proc_stat

from .fake_sysfs import write_proc_stat

# user nice system idle iowait irq softirq steal guest guest_nice
BOOT = (1000, 0, 500, 8000, 200, 0, 100, 0, 0, 0)


def advance(base, **delta):
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
    return tuple(v + delta.get(names[i], 0) for i, v in enumerate(base))


def test_proc_stat_parsing_counts_busy_total_and_cpus(tmp_path):
    write_proc_stat(tmp_path, BOOT, cpus=4)

    busy, total, cpus = read_proc_stat(tmp_path)

    assert (busy, total, cpus) == (1600, 9800, 4)


def test_estimate_from_known_deltas(tmp_path):
    # setup: 4 CPUs; between the reads 300 busy ticks out of 800
    write_proc_stat(tmp_path, BOOT, cpus=4)
    sensor = CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=3.0, idle_w=2.0)
    write_proc_stat(tmp_path, advance(BOOT, user=200, system=50, softirq=50, idle=400, iowait=100), cpus=4)

    # execute
    sample = sensor.read()

    # assert: 4 CPUs × 300/800 = 1.5 busy CPUs; 2 W + 1.5 × 3 W
    assert sample.power_w == pytest.approx(6.5)
    assert sensor.estimated is True
    assert sensor.source == "estimate:cpu-load"


def test_iowait_and_steal_are_not_busy_and_guest_is_not_counted_twice(tmp_path):
    write_proc_stat(tmp_path, BOOT, cpus=2)
    sensor = CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=1.0)
    # 100 busy (user, of which 80 were guest time already inside user), 50 iowait, 50 steal
    write_proc_stat(tmp_path, advance(BOOT, user=100, guest=80, iowait=50, steal=50), cpus=2)

    assert sensor.read().power_w == pytest.approx(2 * 100 / 200 * 1.0)


def test_default_is_above_idle_and_says_so_with_its_numbers(tmp_path):
    write_proc_stat(tmp_path, BOOT, cpus=4)
    sensor = CPULoadEstimate(proc_root=tmp_path)
    write_proc_stat(tmp_path, advance(BOOT, user=400), cpus=4)  # all 4 CPUs busy

    assert sensor.read().power_w == pytest.approx(4 * DEFAULT_WATTS_PER_BUSY_CORE)
    assert "estimate, not a measurement" in sensor.method
    assert "0.925 W" in sensor.method and "4 online" in sensor.method
    assert "above idle" in sensor.method
    assert "Raspberry Pi 4" in sensor.method


def test_given_figures_are_named_in_method(tmp_path):
    write_proc_stat(tmp_path, BOOT)
    sensor = CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=7.5, idle_w=12.0, basis="x86 profile")

    assert "7.5 W" in sensor.method and "12 W assumed idle power" in sensor.method
    assert "x86 profile" in sensor.method
    assert "above idle" not in sensor.method


def test_no_tick_between_reads_repeats_the_last_figure(tmp_path):
    write_proc_stat(tmp_path, BOOT, cpus=4)
    sensor = CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=1.0)
    write_proc_stat(tmp_path, advance(BOOT, user=100, idle=100), cpus=4)
    first = sensor.read().power_w

    second = sensor.read()  # the file did not move

    assert first == pytest.approx(2.0)
    assert second.power_w == first


def test_each_read_covers_only_the_interval_since_the_previous(tmp_path):
    write_proc_stat(tmp_path, BOOT, cpus=1)
    sensor = CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=1.0)
    step1 = advance(BOOT, user=100)
    write_proc_stat(tmp_path, step1, cpus=1)
    assert sensor.read().power_w == pytest.approx(1.0)
    write_proc_stat(tmp_path, advance(step1, idle=100), cpus=1)
    assert sensor.read().power_w == pytest.approx(0.0)


def test_unreadable_proc_is_a_sensor_error(tmp_path):
    with pytest.raises(SensorError, match="stat"):
        CPULoadEstimate(proc_root=tmp_path)


def test_nonsense_parameters_are_refused(tmp_path):
    write_proc_stat(tmp_path, BOOT)
    with pytest.raises(ValueError):
        CPULoadEstimate(proc_root=tmp_path, watts_per_busy_core=0)
    with pytest.raises(ValueError):
        CPULoadEstimate(proc_root=tmp_path, idle_w=-1)


def test_reads_the_real_proc_stat():
    sample = CPULoadEstimate().read()
    assert sample.power_w is not None and sample.power_w >= 0


def test_discovery_default_fits_the_cpu_architecture() -> None:
    from agent.power.estimate import X86_64_WATTS_PER_BUSY_CORE, defaults_for_machine

    assert defaults_for_machine("x86_64")["watts_per_busy_core"] == X86_64_WATTS_PER_BUSY_CORE
    assert "EPYC" in defaults_for_machine("x86_64")["basis"]
    assert defaults_for_machine("aarch64")["watts_per_busy_core"] == DEFAULT_WATTS_PER_BUSY_CORE
