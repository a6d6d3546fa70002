"""The CPU-load estimate: only the worker's own CPU time, watts per core with a stated basis."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import SensorError
from agent.power.cpu_models import GENERIC, core_watts, cpu_model_name
from agent.power.estimate import CPULoadEstimate
from agent.power.estimate_basis import estimate_options
from agent.power.sampler import PowerSampler

from .fake_sysfs import write_cpuinfo, write_proc_stat, write_process_stat

# the whole machine: busy far more than the worker (another process spinning)
MACHINE = (50_000, 0, 10_000, 1_000, 0, 0, 0, 0, 0, 0)


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    write_proc_stat(tmp_path, MACHINE, cpus=4)
    write_cpuinfo(tmp_path, model_name="AMD EPYC 9654 96-Core Processor")
    write_process_stat(tmp_path, "self", utime=1000, stime=200)
    return tmp_path


def test_energy_counts_the_worker_cpu_time_only(proc: Path) -> None:
    # setup: a 96-core EPYC (3.75 W per core); the machine's /proc/stat says everything is busy
    sensor = CPULoadEstimate(proc_root=proc)
    first = sensor.read()

    # execute: the worker uses 150 ticks (1.5 CPU-s); the rest of the machine spins on
    write_process_stat(proc, "self", utime=1120, stime=230)
    write_proc_stat(proc, tuple(v * 2 for v in MACHINE), cpus=4)
    second = sensor.read()

    # assert: energy is a counter of 3.75 W x the worker's 1.5 CPU-s, whatever the machine did
    assert first.power_w is None and second.power_w is None
    assert second.energy_j - first.energy_j == pytest.approx(1.5 * 3.75)
    assert sensor.reads_above_idle  # no idle figure: above idle only
    assert "worker's own CPU time" in sensor.method and "above idle" in sensor.method


def test_a_busy_neighbour_does_not_enter_a_real_estimate() -> None:
    """The issue's finding on the landed code: a process spinning beside an idle worker raised the
    estimate. Here the worker sleeps while a child spins; the estimate stays near zero."""
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend=time.time()+3\nwhile time.time()<end: pass"])
    try:
        time.sleep(0.2)
        with PowerSampler(CPULoadEstimate(watts_per_busy_core=4.0, idle_w=0.0)) as sampler:
            t0 = time.monotonic()
            time.sleep(0.8)
            report = sampler.window(t0, time.monotonic())
    finally:
        spinner.kill()
        spinner.wait()
    # a spinning core would read 4 W; the sleeping worker's sampler thread costs a few ticks at most
    assert report.avg_w is not None and report.avg_w < 0.5


def test_known_cpu_models_carry_their_tdp_basis() -> None:
    epyc = core_watts("AMD EPYC 9354 32-Core Processor")
    assert epyc.watts_per_busy_core == pytest.approx(280 / 32)
    assert "280 W default TDP / 32 cores" in epyc.basis and "hpctech" in epyc.basis
    assert not epyc.generic
    pi = core_watts("Raspberry Pi 4 Model B Rev 1.4")
    assert pi.watts_per_busy_core == pytest.approx(0.925) and "measured" in pi.basis


def test_an_unknown_cpu_says_it_rests_on_a_generic_assumption(tmp_path: Path) -> None:
    # this machine's own cpuinfo says just "AMD EPYC": no part number, no figure of its own
    write_cpuinfo(tmp_path, model_name="AMD EPYC")
    write_process_stat(tmp_path)

    sensor = CPULoadEstimate(proc_root=tmp_path, machine="x86_64")

    assert sensor.watts_per_busy_core == GENERIC["x86_64"]
    assert sensor.generic
    assert "generic assumption" in sensor.method and "'AMD EPYC'" in sensor.method
    assert core_watts("Some Future CPU", machine="aarch64").generic


def test_the_board_model_line_names_a_raspberry_pi(tmp_path: Path) -> None:
    write_cpuinfo(tmp_path, board_model="Raspberry Pi 4 Model B Rev 1.4")
    write_process_stat(tmp_path)

    assert cpu_model_name(tmp_path) == "Raspberry Pi 4 Model B Rev 1.4"
    assert CPULoadEstimate(proc_root=tmp_path).watts_per_busy_core == pytest.approx(0.925)


def test_an_idle_figure_makes_the_reading_gross(proc: Path) -> None:
    sensor = CPULoadEstimate(proc_root=proc, watts_per_busy_core=2.0, idle_w=3.0, idle_basis="profile")
    t0 = time.monotonic()
    a = sensor.read()
    write_process_stat(proc, "self", utime=1100, stime=200)  # +1 CPU-s
    time.sleep(0.05)
    b = sensor.read()

    elapsed = b.t_monotonic_s - a.t_monotonic_s
    assert b.energy_j - a.energy_j == pytest.approx(2.0 * 1.0 + 3.0 * elapsed, rel=1e-6)
    assert not sensor.reads_above_idle
    assert "3 W idle power (profile)" in sensor.method
    assert a.t_monotonic_s >= t0


def test_the_target_profile_figures_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # setup: a user profile for this device with both figures, as a user would add them
    shipped = Path(__file__).resolve().parents[3] / "targets" / "raspberry-pi-5.yaml"
    text = shipped.read_text(encoding="utf-8").replace(
        "idle_power:",
        "watts_per_busy_core:\n  value: 1.6\n  unit: W\n  estimate: true\n"
        "  basis: stress --cpu 4 on a meter\nidle_power:",
    )
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "raspberry-pi-5.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("EDGEPROF_TARGETS_DIR", str(folder))

    options = estimate_options("raspberry-pi-5")

    assert options["watts_per_busy_core"] == 1.6 and "stress --cpu 4" in options["basis"]
    assert options["idle_w"] == 3.0 and "idle_power" in options["idle_basis"]
    assert estimate_options("") == {} and estimate_options("no-such-device") == {}


def test_the_shipped_pi5_profile_gives_its_idle_figure() -> None:
    options = estimate_options("raspberry-pi-5")
    assert options["idle_w"] == 3.0 and "estimate" in options["idle_basis"]
    assert "watts_per_busy_core" not in options  # the table or the generic figure applies


def test_unreadable_process_stat_is_a_sensor_error(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="stat"):
        CPULoadEstimate(proc_root=tmp_path)


def test_nonsense_parameters_are_refused(proc: Path) -> None:
    with pytest.raises(ValueError):
        CPULoadEstimate(proc_root=proc, watts_per_busy_core=0)
    with pytest.raises(ValueError):
        CPULoadEstimate(proc_root=proc, idle_w=-1)


def test_reads_the_real_proc() -> None:
    sample = CPULoadEstimate().read()
    assert sample.energy_j is not None and sample.energy_j >= 0
