"""NVIDIA discrete-GPU power through NVML (the ``pynvml`` module of the nvidia-ml-py package).

Preferred: ``nvmlDeviceGetTotalEnergyConsumption``, a cumulative counter in mJ (Volta and newer) that
the driver updates about every 100 ms, differenced over the window: a reading is up to one update
old, so it is stamped half an update back, and a window must last ten updates. Else
``nvmlDeviceGetPowerUsage`` in mW, which is not an instantaneous value: "on Ampere (except GA100) or
newer GPUs, the API returns power averaged over 1 sec interval" (NVML reference), and older boards
average over a sample period of 1/6 s to 1 s. A reading therefore stands for the middle of the
second before it: it is stamped ``POWER_AVERAGE_S / 2`` back (``lag_s``), the sampler waits that
much longer for the reading that closes a window, the timing uncertainty is recorded (wider where
the averaging period is not known), and a window must last ``POWER_MIN_WINDOW_S`` so that the
smoothing at its two edges stays a small part of it. Either way the figure is the GPU board only,
not the host CPU or memory. NVML reports no power on Jetson: there the ina3221 sensor is the one
to use.

``pynvml`` is imported in the constructor, so that the agent imports without it.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor

INSTALL_HINT = "pip install 'edgeprof[agent-nvml]' (the nvidia-ml-py package, which provides pynvml)"
#: The energy counter moves in steps of about 100 ms; a window of ten steps keeps the quantisation
#: at each edge under a few per cent.
COUNTER_MIN_WINDOW_S = 1.0
COUNTER_UPDATE_S = 0.1
#: nvmlDeviceGetPowerUsage averages over the last second on Ampere and newer (1/6 s to 1 s before).
POWER_AVERAGE_S = 1.0
#: With readings that smooth a second, the window's edges blur by about half a second each: five
#: seconds keeps that a tenth of the window at most.
POWER_MIN_WINDOW_S = 5.0
#: nvmlDeviceGetArchitecture's value for Ampere (NVML_DEVICE_ARCH_AMPERE); newer ones are larger.
_ARCH_AMPERE = 7


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:
        raise SensorError("NVML power needs pynvml, which is not installed: %s" % INSTALL_HINT) from exc
    return pynvml


class NVMLSensor(PowerSensor):
    """GPU power or energy from NVML; ``index`` picks one GPU, None sums them all (kept as rails)."""

    name = "nvml"
    nominal_rate_hz = 10.0

    def __init__(self, index: Optional[int] = None) -> None:
        nvml = _import_pynvml()
        self._nvml = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise SensorError("NVML did not start (no NVIDIA driver here?): %s" % exc) from exc
        self._open = True
        try:
            count = nvml.nvmlDeviceGetCount()
            indices = list(range(count)) if index is None else [index]
            if not indices:
                raise SensorError("NVML sees no GPU")
            if index is not None and not 0 <= index < count:
                raise SensorError("GPU index %d does not exist: NVML sees %d GPU(s)" % (index, count))
            self._gpus: List[Tuple[str, Any]] = [("gpu%d" % i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]
            self.use_counter = self._supports(nvml.nvmlDeviceGetTotalEnergyConsumption)
            if not self.use_counter and not self._supports(nvml.nvmlDeviceGetPowerUsage):
                raise SensorError(
                    "NVML reports neither energy nor power for %s (on Jetson NVML has no power: use the "
                    "ina3221 sensor)" % ", ".join(label for label, _ in self._gpus)
                )
        except SensorError:
            self.close()
            raise
        except nvml.NVMLError as exc:
            self.close()
            raise SensorError("NVML failed while looking at the GPUs: %s" % exc) from exc
        labels = [label for label, _ in self._gpus]
        self.source = "nvml:%s" % "+".join(labels)
        if self.use_counter:
            self.min_window_s = COUNTER_MIN_WINDOW_S
            self.lag_s = COUNTER_UPDATE_S / 2
            self.timestamp_uncertainty_s = COUNTER_UPDATE_S / 2
            self.method = (
                "NVML total-energy counter (mJ, updated about every 100 ms) of %s, differenced over the "
                "window; GPU board power only" % " + ".join(labels)
            )
        else:
            known = self._averages_one_second()
            self.min_window_s = POWER_MIN_WINDOW_S
            self.lag_s = POWER_AVERAGE_S / 2
            # a known 1 s average is well centred; an older board's shorter period may sit later
            self.timestamp_uncertainty_s = 0.1 if known else POWER_AVERAGE_S / 2
            self.method = (
                "NVML power usage (mW) of %s: the driver's average over %s, each reading stamped %.1f s "
                "back at the middle of it, integrated over the window (at least %.0f s); GPU board power only"
                % (
                    " + ".join(labels),
                    "the last second (Ampere or newer)" if known else "up to the last second (older or unknown GPU)",
                    self.lag_s,
                    POWER_MIN_WINDOW_S,
                )
            )

    def _averages_one_second(self) -> bool:
        """True when every GPU is Ampere or newer, whose power reading is a 1 s average."""
        query = getattr(self._nvml, "nvmlDeviceGetArchitecture", None)
        if query is None:
            return False
        try:
            return all(int(query(handle)) >= _ARCH_AMPERE for _, handle in self._gpus)
        except (self._nvml.NVMLError, TypeError, ValueError):
            return False

    def _supports(self, query: Any) -> bool:
        try:
            for _, handle in self._gpus:
                query(handle)
        except self._nvml.NVMLError:
            return False
        return True

    def read(self) -> PowerSample:
        nvml = self._nvml
        before = time.monotonic()
        values: Dict[str, float] = {}
        try:
            for label, handle in self._gpus:
                if self.use_counter:
                    values[label] = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
                else:
                    values[label] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except nvml.NVMLError as exc:
            raise SensorError("NVML read failed: %s" % exc) from exc
        # the instant a reading stands for: the middle of the read, less the driver's own lag
        t = 0.5 * (before + time.monotonic()) - self.lag_s
        if self.use_counter:
            return PowerSample(t_monotonic_s=t, energy_j=sum(values.values()), rails_energy_j=values)
        return PowerSample(t_monotonic_s=t, power_w=sum(values.values()), rails_w=values)

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
