"""Jetson power modes around a job, against fake nvpmodel / jetson_clocks / sudo binaries on PATH and
a fake sysfs tree whose clock limits the fake switch changes, as a real one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.power_modes import (
    SETTLE_STABLE_READS,
    ModeState,
    NVPModel,
    PowerModeError,
    clock_limits,
    job_power_mode,
    settle,
)

from .fake_jetson_tools import install, read_state

pytestmark = pytest.mark.jetson

XAVIER_NX_MODES = {
    0: ("MODE_15W_2CORE", 1100, 1900, "0-1"),
    1: ("MODE_15W_4CORE", 1100, 1400, "0-3"),
    2: ("MODE_10W_2CORE", 800, 1500, "0-1"),
    3: ("MODE_20W_6CORE", 1100, 1400, "0-5"),
}


@pytest.fixture
def board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    tools = install(tmp_path / "tools", tmp_path / "sys")
    monkeypatch.setenv("PATH", f"{tools['bin']}:/usr/bin:/bin")
    tools["sys"] = tmp_path / "sys"
    tools["nvpmodel"] = NVPModel(str(tools["bin"] / "nvpmodel"), conf=tools["conf"], sudo=False)
    return tools


def fast(**extra: Any) -> dict[str, Any]:
    return {"sleep": lambda s: None, **extra}


def test_query_and_modes_read_what_nvpmodel_prints(board: dict[str, Any]) -> None:
    nvp = board["nvpmodel"]

    assert nvp.query() == ModeState(0, "15W")
    assert nvp.modes() == {0: "15W", 1: "7W", 2: "MAXN_SUPER"}
    board["conf"].unlink()  # no /etc/nvpmodel.conf: `nvpmodel -p --verbose` says the same
    assert nvp.modes() == {0: "15W", 1: "7W", 2: "MAXN_SUPER"}


def test_a_mode_is_found_by_profile_name_nvpmodel_name_or_id(tmp_path: Path) -> None:
    tools = install(tmp_path / "t", tmp_path / "sys", modes=XAVIER_NX_MODES)
    nvp = NVPModel(str(tools["bin"] / "nvpmodel"), conf=tools["conf"], sudo=False)

    assert nvp.resolve("MODE_10W_2CORE") == ModeState(2, "MODE_10W_2CORE")
    assert nvp.resolve("10W") == ModeState(2, "MODE_10W_2CORE")  # the target profile's short name
    assert nvp.resolve("20W") == ModeState(3, "MODE_20W_6CORE")
    assert nvp.resolve("1") == ModeState(1, "MODE_15W_4CORE")
    with pytest.raises(PowerModeError, match="15W.*ambiguous.*MODE_15W_2CORE \\(0\\), MODE_15W_4CORE \\(1\\)"):
        nvp.resolve("15W")
    with pytest.raises(PowerModeError, match="no power mode '30W'; its modes are MODE_15W_2CORE \\(0\\)"):
        nvp.resolve("30W")


def test_the_job_runs_in_the_mode_it_asked_for_and_the_previous_one_comes_back(board: dict[str, Any]) -> None:
    sysfs = board["sys"]
    assert clock_limits(sysfs)["17000000.gpu:max_mhz"] == 625

    with job_power_mode("MAXN_SUPER", False, board["state"].parent, nvpmodel=board["nvpmodel"], sysfs_root=sysfs,
                        **fast()) as mode:  # fmt: skip
        during = clock_limits(sysfs)
        assert board["nvpmodel"].query() == ModeState(2, "MAXN_SUPER")

    assert during["17000000.gpu:max_mhz"] == 1020 and during["cpu_max_mhz"] == 1728
    assert mode["name"] == "MAXN_SUPER" and mode["id"] == 2 and mode["previous"] == "15W" and mode["switched"]
    assert mode["settled"] and mode["clocks"]["17000000.gpu:max_mhz"] == 1020
    assert mode["restored"] is True and "restore_error" not in mode
    assert board["nvpmodel"].query() == ModeState(0, "15W")
    assert clock_limits(sysfs)["17000000.gpu:max_mhz"] == 625


def test_the_previous_mode_comes_back_when_the_job_fails(board: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="the benchmark broke"):  # noqa: PT012 - the body is the point
        with job_power_mode("7W", False, board["state"].parent, nvpmodel=board["nvpmodel"], sysfs_root=board["sys"],
                            **fast()):  # fmt: skip
            assert clock_limits(board["sys"])["cpus_online"] == 4
            raise RuntimeError("the benchmark broke")

    assert board["nvpmodel"].query().name == "15W" and clock_limits(board["sys"])["cpus_online"] == 6


def test_fixed_clocks_are_pinned_in_the_new_mode_and_put_back(board: dict[str, Any]) -> None:
    from agent.power_modes import JetsonClocks

    clocks = JetsonClocks(str(board["bin"] / "jetson_clocks"), sudo=False)
    with job_power_mode("MAXN_SUPER", True, board["state"].parent, nvpmodel=board["nvpmodel"], clocks=clocks,
                        sysfs_root=board["sys"], **fast()) as mode:  # fmt: skip
        pinned = clock_limits(board["sys"])

    assert pinned["17000000.gpu:cur_mhz"] == pinned["17000000.gpu:max_mhz"] == 1020
    calls = read_state(board["state"])["calls"]
    store = calls.index(next(c for c in calls if "--store" in c))
    switch = calls.index("nvpmodel -m 2")
    assert store < switch < calls.index("jetson_clocks")  # stored in the old mode, pinned in the new one
    assert calls[-1].startswith("jetson_clocks --restore") and "nvpmodel -m 0" in calls
    assert mode["fixed_clocks"] and mode["restored"]
    assert clock_limits(board["sys"])["17000000.gpu:cur_mhz"] == 306  # back to the governor's choice


def test_a_mode_that_needs_a_reboot_is_declined_and_undone(tmp_path: Path) -> None:
    tools = install(tmp_path / "t", tmp_path / "sys", reboot_modes=(2,))
    nvp = NVPModel(str(tools["bin"] / "nvpmodel"), conf=tools["conf"], sudo=False)

    with pytest.raises(PowerModeError, match="needs a reboot.*never does.*sudo nvpmodel -m 2"):
        with job_power_mode("MAXN_SUPER", False, tmp_path, nvpmodel=nvp, sysfs_root=tmp_path / "sys", **fast()):
            pytest.fail("the job must not run in a mode that did not take effect")

    state = read_state(tools["state"])
    assert state["current"] == 0 and state["pending"] is None  # not left armed for the next boot


def test_a_non_root_agent_switches_through_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = install(tmp_path / "t", tmp_path / "sys", need_root=True)
    monkeypatch.setenv("PATH", f"{tools['bin']}:/usr/bin:/bin")

    direct = NVPModel(str(tools["bin"] / "nvpmodel"), conf=tools["conf"], sudo=False)
    with pytest.raises(PowerModeError, match="Permission denied.*sudoers"):
        direct.set(ModeState(1, "7W"))
    NVPModel(str(tools["bin"] / "nvpmodel"), conf=tools["conf"], sudo=True).set(ModeState(1, "7W"))

    assert read_state(tools["state"])["current"] == 1
    assert any(c.startswith("sudo -n") and c.endswith("nvpmodel -m 1") for c in read_state(tools["state"])["calls"])


def test_with_nothing_asked_a_jetson_still_names_its_mode(board: dict[str, Any]) -> None:
    with job_power_mode("", False, board["state"].parent) as mode:  # nvpmodel found on PATH
        pass

    assert mode == {"name": "15W", "id": 0, "switched": False, "fixed_clocks": False}
    assert not any("-m" in c for c in read_state(board["state"])["calls"])


def test_elsewhere_nothing_is_recorded_and_asking_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvpmodel

    with job_power_mode("", False, tmp_path) as mode:
        pass
    assert mode == {}
    with pytest.raises(PowerModeError, match="no nvpmodel \\(not a Jetson\\?\\)"):
        with job_power_mode("15W", False, tmp_path):
            pass


def test_settling_waits_for_the_limits_to_stop_moving(tmp_path: Path) -> None:
    gpu = tmp_path / "class/devfreq/gpu"
    gpu.mkdir(parents=True)
    steps = iter([306, 612, 918, 1020, 1020, 1020, 1020])
    (gpu / "max_freq").write_text(f"{next(steps) * 10**6}\n")
    now = [0.0]

    def sleep(seconds: float) -> None:  # the kernel raises the cap while we wait
        now[0] += seconds
        (gpu / "max_freq").write_text(f"{next(steps) * 10**6}\n")

    result = settle(tmp_path, sleep=sleep, clock=lambda: now[0])

    assert result["settled"] and result["clocks"]["gpu:max_mhz"] == 1020
    assert result["settle_s"] == pytest.approx(0.25 * (3 + SETTLE_STABLE_READS - 1))


def test_settling_gives_up_at_the_timeout_and_says_so(tmp_path: Path) -> None:
    gpu = tmp_path / "class/devfreq/gpu"
    gpu.mkdir(parents=True)
    now, mhz = [0.0], [100]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        mhz[0] += 1
        (gpu / "max_freq").write_text(f"{mhz[0] * 10**6}\n")

    result = settle(tmp_path, timeout_s=1.0, sleep=sleep, clock=lambda: now[0])

    assert not result["settled"] and result["settle_s"] == pytest.approx(1.0)
