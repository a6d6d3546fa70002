"""Power sensors: a registry of name -> "module:Class", imported only when asked for.

A new sensor is one new file in this package plus one line in ``SENSORS``. Each class builds itself
from the machine's ``/sys`` and ``/proc`` through ``PowerSensor.create`` and raises ``SensorError``
when it is absent, so that discovery can simply try them in turn.

``discover()`` returns the first real sensor that works, in ``DISCOVERY_ORDER``:

1. ``ina3221`` — the agent's own Jetson INA3221 sysfs reader (module input rail, or the sum of rails);
2. ``jtop``    — jetson-stats, only where installed and its service runs (AGPL, optional);
3. ``nvml``    — NVIDIA discrete GPUs through pynvml (GPU board power only);
4. ``rapl``    — Intel/AMD CPU package energy counters (CPU package only);

and falls back to ``estimate`` (CPU load × assumed watts per core), which says it is an estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Type, Union

from agent.errors import SensorError
from agent.power.base import PowerSample, PowerSensor
from agent.registry import Registry

SENSORS = Registry(
    "power sensor",
    {
        "ina3221": "agent.power.ina3221:INA3221Sensor",
        "jtop": "agent.power.jtop:JtopSensor",
        "nvml": "agent.power.nvml:NVMLSensor",
        "rapl": "agent.power.rapl:RAPLSensor",
        "estimate": "agent.power.estimate:CPULoadEstimate",
    },
    SensorError,
)
#: Real sensors, best first. On a Jetson the sysfs reader wins over jtop: it needs no service, reads
#: faster than jtop's 0.5 s, and timestamps each reading.
DISCOVERY_ORDER = ("ina3221", "jtop", "nvml", "rapl")
#: What ``discover`` returns where no real sensor works.
FALLBACK = "estimate"

__all__ = [
    "DISCOVERY_ORDER",
    "FALLBACK",
    "SENSORS",
    "PowerSample",
    "PowerSensor",
    "available",
    "discover",
    "open_sensor",
    "probe",
    "sensor_class",
]


def sensor_class(name: str) -> Type[PowerSensor]:
    """The class registered as ``name``, imported now. Raises ``SensorError`` if unknown."""
    cls: Type[PowerSensor] = SENSORS.get(name)
    return cls


def open_sensor(name: str, sysfs_root: Path = Path("/sys"), proc_root: Path = Path("/proc")) -> PowerSensor:
    """Build the sensor registered as ``name`` for this machine; ``SensorError`` if it is absent."""
    return sensor_class(name).create(Path(sysfs_root), Path(proc_root))


def probe(
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    names: Optional[Sequence[str]] = None,
) -> Dict[str, Optional[str]]:
    """name -> None where the sensor works here, else the reason it does not (for status and doctor)."""
    result: Dict[str, Optional[str]] = {}
    for name in names if names is not None else list(SENSORS):
        try:
            sensor = open_sensor(name, sysfs_root, proc_root)
        except SensorError as exc:
            result[name] = str(exc)
        else:
            sensor.close()
            result[name] = None
    return result


def available(sysfs_root: Path = Path("/sys"), proc_root: Path = Path("/proc")) -> List[str]:
    """Names of the sensors that work on this machine, discovery order first, estimate last."""
    order = list(DISCOVERY_ORDER) + [n for n in SENSORS if n not in DISCOVERY_ORDER]
    found = probe(sysfs_root, proc_root, order)
    return [name for name in order if found[name] is None]


def discover(
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    prefer: Union[None, str, Sequence[str]] = None,
    estimate_options: Optional[Dict[str, Any]] = None,
) -> PowerSensor:
    """The best sensor that works here: ``prefer`` (a name or names) first, then ``DISCOVERY_ORDER``,
    then the CPU-load estimate built with ``estimate_options`` (e.g. a target profile's
    ``watts_per_busy_core`` and ``idle_w``). Raises ``SensorError`` only if even the estimate cannot
    read ``/proc/stat``, naming why each sensor failed."""
    preferred = [prefer] if isinstance(prefer, str) else list(prefer or [])
    for name in preferred:
        if name not in SENSORS:
            raise SensorError("unknown power sensor %r; this agent knows: %s" % (name, ", ".join(sorted(SENSORS))))
    order = preferred + [n for n in DISCOVERY_ORDER if n not in preferred]
    reasons = []
    for name in order:
        try:
            if name == FALLBACK and estimate_options:
                return _estimate(proc_root, estimate_options)
            return open_sensor(name, sysfs_root, proc_root)
        except SensorError as exc:
            reasons.append("%s: %s" % (name, exc))
    try:
        if estimate_options:
            return _estimate(proc_root, estimate_options)
        return open_sensor(FALLBACK, sysfs_root, proc_root)
    except SensorError as exc:
        reasons.append("%s: %s" % (FALLBACK, exc))
        raise SensorError("no power source works here: %s" % "; ".join(reasons)) from exc


def _estimate(proc_root: Path, options: Dict[str, Any]) -> PowerSensor:
    from agent.power.estimate import CPULoadEstimate

    return CPULoadEstimate(proc_root=Path(proc_root), **options)
