"""/proc readings: the worker's own CPU time, the CPUs' busy time, foreign load, memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.proc_stats import CPUAccount, cpu_busy_s, memory_use_mib, process_cpu_s

from .power.fake_sysfs import write_proc_stat, write_process_stat


def test_process_cpu_time_is_utime_plus_stime_even_with_spaces_in_the_name(tmp_path: Path) -> None:
    write_process_stat(tmp_path, 77, utime=250, stime=50, comm="edgeprof (worker) x")
    assert process_cpu_s(77, tmp_path) == pytest.approx(3.0)  # 300 ticks at 100 Hz
    with pytest.raises(AgentError, match="cannot read"):
        process_cpu_s(78, tmp_path)


def test_busy_time_counts_only_the_cpus_asked_for(tmp_path: Path) -> None:
    # 4 CPUs, each with user 100, system 50, softirq 10 ticks: 160 busy ticks each
    write_proc_stat(tmp_path, (400, 0, 200, 4000, 40, 0, 40, 0, 0, 0), cpus=4)
    assert cpu_busy_s(tmp_path) == pytest.approx(4 * 1.6)
    assert cpu_busy_s(tmp_path, {0, 2}) == pytest.approx(2 * 1.6)
    with pytest.raises(AgentError, match="no cpuN line"):
        cpu_busy_s(tmp_path, {9})


def test_foreign_time_is_the_cpus_busy_time_less_the_workers(tmp_path: Path) -> None:
    account = CPUAccount(pid="self", proc_root=tmp_path, cpus={0, 1})
    write_proc_stat(tmp_path, (0, 0, 0, 1000, 0, 0, 0, 0, 0, 0), cpus=2)
    write_process_stat(tmp_path, utime=0)
    before = account.snapshot()
    write_proc_stat(tmp_path, (300, 0, 0, 1100, 0, 0, 0, 0, 0, 0), cpus=2)  # 150 busy ticks per CPU
    write_process_stat(tmp_path, utime=100)  # the worker's share: 1 CPU-s of the 3
    after = account.snapshot()
    share = CPUAccount.between(before, after)
    assert share.worker_cpu_s == pytest.approx(1.0) and share.foreign_cpu_s == pytest.approx(2.0)
    assert share.foreign_load == pytest.approx(2.0 / (share.interval_s * 2))


def test_a_real_spinning_neighbour_shows_up_as_foreign_time() -> None:
    account = CPUAccount()
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend=time.time()+2\nwhile time.time()<end: pass"])
    try:
        time.sleep(0.3)
        before = account.snapshot()
        time.sleep(1.0)
        after = account.snapshot()
    finally:
        spinner.kill()
        spinner.wait()
    share = CPUAccount.between(before, after)
    assert share.foreign_cpu_s > 0.3  # the spinner had most of a CPU for a second
    assert share.worker_cpu_s < 0.2  # this process slept


def test_memory_from_status(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "status").write_text("Name:\tpython3\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n")
    assert memory_use_mib(proc_root=tmp_path) == {"rss_mib": 100.0, "peak_rss_mib": 200.0}
    assert memory_use_mib(proc_root=tmp_path / "nowhere") == {}
    real = memory_use_mib()
    if os.path.exists("/proc/self/status"):
        assert real["peak_rss_mib"] >= real["rss_mib"] > 1
