"""GPU conditions around a measurement: load, clocks, temperature, memory, and why the clocks slowed.

:func:`agent.conditions.snapshot` adds these keys to its own before and after every window, so a
record shows what the GPU was doing while it was measured. Units are in the names.

Discrete GPUs, through NVML (``pynvml``; one set of keys per GPU, ``gpu0``, ``gpu1``...):

    gpu_util_pct:gpuN          share of the driver's last sample period (1/6 s to 1 s) a kernel ran
    gpu_mem_util_pct:gpuN      share of it device memory was read or written
    gpu_mhz:gpuN, gpu_mem_mhz:gpuN   SM and memory clocks
    temp_c:gpuN, trip_c:gpuN   GPU temperature and the driver's slowdown threshold (the shared
                               ``temp_c``/``trip_c`` keys: :func:`agent.conditions.compare` judges them)
    gpu_mem_used_mib:gpuN      device memory in use (all processes)
    gpu_power_limit_w:gpuN     the enforced board power limit
    gpu_clock_events:gpuN      NVML's clock-event (throttle) reason bits, judged by :func:`compare`

Jetson, from sysfs and debugfs (NVML has none of this on Jetson; debugfs needs root):

    gpu_load_pct:<devfreq>     ``class/devfreq/<gpu>/device/load`` (per mille)
    emc_mhz                    ``kernel/debug/bpmp/debug/clk/emc/rate`` (Hz)
    emc_load_pct               activity monitor ``mc_all`` (kHz) over the EMC clock (kHz), as jtop does

A missing file or library is not an error: the machine reports fewer keys. Python 3.8, stdlib only
(``pynvml`` imported when present).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, List

#: NVML clock-event reason bits (``nvmlClocksEventReason*``, formerly ``nvmlClocksThrottleReason*``)
#: that mean the GPU was slowed against the load: heat, a hardware slowdown or a power brake. The
#: software power cap (0x4) is left out: a loaded data-centre GPU runs at its power limit by design.
SLOWDOWN_REASONS = {
    0x8: "hardware slowdown",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "power brake slowdown",
}
#: devfreq devices that are a Jetson's GPU (``device/of_node/name``), as jtop lists them
JETSON_GPU_NODES = ("gpu", "ga10b", "gv11b", "gp10b", "gm20b", "gb10b")
_ACTMON = (
    "kernel/debug/cactmon/mc_all",
    "kernel/debug/bpmp/debug/actmon/mc_all_avg_activity",
    "kernel/actmon_avg_activity/mc_all",
)


def snapshot(sysfs_root: Path = Path("/sys")) -> Dict[str, float]:
    """Every key this machine has. NVML describes this machine, so it is read only for the real
    ``/sys``; a fake tree in a test stands for another one."""
    out = nvml_snapshot() if Path(sysfs_root) == Path("/sys") else {}
    out.update(jetson_snapshot(sysfs_root))
    return out


def nvml_snapshot() -> Dict[str, float]:
    """The NVML keys for every GPU NVML sees; empty without pynvml, a driver or a GPU."""
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError: no driver here
        return {}
    try:
        out: Dict[str, float] = {}
        for i in range(pynvml.nvmlDeviceGetCount()):
            out.update(_one_gpu(pynvml, pynvml.nvmlDeviceGetHandleByIndex(i), "gpu%d" % i))
        return out
    except Exception:
        return {}
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _one_gpu(nvml: Any, handle: Any, label: str) -> Dict[str, float]:
    out: Dict[str, float] = {}
    reads = (
        ("gpu_util_pct", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        ("gpu_mem_util_pct", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).memory),
        ("gpu_mhz", lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
        ("gpu_mem_mhz", lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
        ("temp_c", lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        (
            "trip_c",
            lambda: nvml.nvmlDeviceGetTemperatureThreshold(handle, nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN),
        ),
        ("gpu_mem_used_mib", lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / 2.0**20),
        ("gpu_power_limit_w", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0),
        ("gpu_clock_events", lambda: _clock_events(nvml, handle)),
    )
    for key, read in reads:
        try:
            out["%s:%s" % (key, label)] = float(read())
        except Exception:  # NVMLError_NotSupported on this GPU, or an older pynvml
            continue
    return out


def _clock_events(nvml: Any, handle: Any) -> int:
    query = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)  # nvidia-ml-py 12.535 and later
    if query is None:
        query = nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(query(handle))


def jetson_snapshot(sysfs_root: Path = Path("/sys")) -> Dict[str, float]:
    """GPU load and EMC clock/load of a Jetson; empty elsewhere or where the files are unreadable."""
    out: Dict[str, float] = {}
    for dev in sorted((sysfs_root / "class" / "devfreq").glob("*")):
        node = _read_text(dev / "device" / "of_node" / "name").strip("\x00\n ").lower()
        if node in JETSON_GPU_NODES or "gpu" in node:
            with contextlib.suppress(OSError, ValueError):
                out["gpu_load_pct:%s" % dev.name] = float(_read_text(dev / "device" / "load")) / 10.0
    emc_hz = _number(sysfs_root / "kernel/debug/bpmp/debug/clk/emc/rate")
    if emc_hz:
        out["emc_mhz"] = emc_hz / 1e6
        for relative in _ACTMON:
            activity_khz = _number(sysfs_root / relative)
            if activity_khz is not None:
                out["emc_load_pct"] = 100.0 * activity_khz / (emc_hz / 1000.0)
                break
    return out


def compare(before: Dict[str, float], after: Dict[str, float]) -> List[str]:
    """Notes on GPUs that NVML says were slowed by heat, a hardware slowdown or a power brake."""
    notes = []
    for key in sorted(after):
        if not key.startswith("gpu_clock_events:"):
            continue
        gpu = key.split(":", 1)[1]
        reasons = [text for bit, text in sorted(SLOWDOWN_REASONS.items()) if int(after[key]) & bit]
        if reasons:
            notes.append("%s clocks were held down at the end of the window: %s (NVML)" % (gpu, ", ".join(reasons)))
    return notes


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _number(path: Path) -> Any:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None
