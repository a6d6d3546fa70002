"""GPU conditions around a window: NVML through a fake ``pynvml`` (the NVML handle is the hardware
boundary; the calls and constants are pynvml's), Jetson load and EMC through a fake sysfs tree."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from agent import conditions, gpu_conditions


class NVMLError(Exception):
    pass


def fake_pynvml(gpus: list[dict[str, Any]], calls: list[str], newer: bool = True) -> types.ModuleType:
    """pynvml with the queries gpu_conditions makes; a key missing from a GPU raises NVMLError
    ("Not Supported"), as NVML does on GPUs without that counter."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]
    m.NVML_CLOCK_GRAPHICS, m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM = 0, 1, 2  # type: ignore[attr-defined]
    m.NVML_TEMPERATURE_GPU, m.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 0, 1  # type: ignore[attr-defined]

    def get(handle: int, key: str) -> Any:
        if key not in gpus[handle]:
            raise NVMLError("Not Supported")
        return gpus[handle][key]

    m.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        gpu=get(h, "util"), memory=get(h, "mem_util")
    )
    m.nvmlDeviceGetClockInfo = lambda h, kind: get(h, {1: "sm_mhz", 2: "mem_mhz"}[kind])  # type: ignore[attr-defined]
    m.nvmlDeviceGetTemperature = lambda h, sensor: get(h, "temp")  # type: ignore[attr-defined]
    m.nvmlDeviceGetTemperatureThreshold = lambda h, kind: get(h, "slowdown_c")  # type: ignore[attr-defined]
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        used=get(h, "used_bytes"), total=80 * 2**30, free=0
    )
    m.nvmlDeviceGetEnforcedPowerLimit = lambda h: get(h, "limit_mw")  # type: ignore[attr-defined]
    reasons = lambda h: get(h, "reasons")  # noqa: E731
    if newer:
        m.nvmlDeviceGetCurrentClocksEventReasons = reasons  # type: ignore[attr-defined]
    m.nvmlDeviceGetCurrentClocksThrottleReasons = reasons  # type: ignore[attr-defined]
    return m


H100 = {
    "util": 97, "mem_util": 41, "sm_mhz": 1980, "mem_mhz": 2619, "temp": 61, "slowdown_c": 87,
    "used_bytes": 3 * 2**30, "limit_mw": 700_000, "reasons": 0x4,
}  # fmt: skip


def test_nvml_figures_for_every_gpu_with_units_in_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    t4 = {k: v for k, v in H100.items() if k not in ("slowdown_c",)}  # a query this GPU does not answer
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H100, t4], calls))

    out = gpu_conditions.nvml_snapshot()

    assert out["gpu_util_pct:gpu0"] == 97 and out["gpu_mem_util_pct:gpu0"] == 41
    assert out["gpu_mhz:gpu0"] == 1980 and out["gpu_mem_mhz:gpu0"] == 2619
    assert out["temp_c:gpu0"] == 61 and out["trip_c:gpu0"] == 87
    assert out["gpu_mem_used_mib:gpu0"] == 3072 and out["gpu_power_limit_w:gpu0"] == 700
    assert out["gpu_clock_events:gpu0"] == 0x4
    assert "trip_c:gpu1" not in out and out["temp_c:gpu1"] == 61
    assert calls == ["init", "shutdown"]


def test_an_older_pynvml_names_the_reasons_throttle_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([dict(H100, reasons=0x40)], [], newer=False))

    assert gpu_conditions.nvml_snapshot()["gpu_clock_events:gpu0"] == 0x40


def test_no_pynvml_or_no_driver_means_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert gpu_conditions.nvml_snapshot() == {}

    broken = fake_pynvml([H100], [])

    def no_driver() -> None:
        raise NVMLError("Driver Not Loaded")

    broken.nvmlInit = no_driver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert gpu_conditions.nvml_snapshot() == {}


def test_thermal_and_hardware_slowdowns_are_noted_and_the_power_cap_is_not() -> None:
    before = {"gpu_clock_events:gpu0": 0.0}

    assert gpu_conditions.compare(before, {"gpu_clock_events:gpu0": float(0x4 | 0x1)}) == []
    notes = gpu_conditions.compare(before, {"gpu_clock_events:gpu0": float(0x4 | 0x20 | 0x40)})
    assert notes == [
        "gpu0 clocks were held down at the end of the window: software thermal slowdown, "
        "hardware thermal slowdown (NVML)"
    ]


def jetson_tree(
    root: Path, load_per_mille: int = 734, emc_hz: int = 2_133_000_000, activity_khz: int = 853_200
) -> Path:
    gpu = root / "class/devfreq/17000000.gpu"
    (gpu / "device/of_node").mkdir(parents=True)
    (gpu / "device/of_node/name").write_bytes(b"gpu\x00")
    (gpu / "device/load").write_text(f"{load_per_mille}\n")
    (gpu / "cur_freq").write_text("612000000\n")
    emc = root / "class/devfreq/emc"  # a devfreq that is not the GPU
    (emc / "device/of_node").mkdir(parents=True)
    (emc / "device/of_node/name").write_bytes(b"external-memory-controller\x00")
    clk = root / "kernel/debug/bpmp/debug/clk/emc"
    clk.mkdir(parents=True)
    (clk / "rate").write_text(f"{emc_hz}\n")
    actmon = root / "kernel/debug/cactmon"
    actmon.mkdir(parents=True)
    (actmon / "mc_all").write_text(f"{activity_khz}\n")
    return root


def test_jetson_gpu_load_and_emc_from_sysfs(tmp_path: Path) -> None:
    out = gpu_conditions.jetson_snapshot(jetson_tree(tmp_path))

    assert out == {
        "gpu_load_pct:17000000.gpu": pytest.approx(73.4),
        "emc_mhz": pytest.approx(2133.0),
        "emc_load_pct": pytest.approx(40.0),
    }


def test_without_debugfs_the_emc_is_left_out(tmp_path: Path) -> None:
    root = jetson_tree(tmp_path)
    (root / "kernel/debug/bpmp/debug/clk/emc/rate").unlink()  # not root: debugfs unreadable

    assert set(gpu_conditions.jetson_snapshot(root)) == {"gpu_load_pct:17000000.gpu"}


def test_the_window_snapshot_carries_them_and_judges_the_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([dict(H100, temp=89)], []))
    root = jetson_tree(tmp_path)

    snap = conditions.snapshot(root)
    assert snap["gpu_load_pct:17000000.gpu"] == pytest.approx(73.4)
    assert "temp_c:gpu0" not in snap  # a fake tree stands for another machine: NVML is not read for it

    after = {**snap, **gpu_conditions.nvml_snapshot(), "gpu_clock_events:gpu0": float(0x20)}
    notes = conditions.compare(snap, after)
    assert "gpu0 reached 89.0 C by the end of the window (throttles at 87 C)" in notes
    assert any("software thermal slowdown" in n for n in notes)
