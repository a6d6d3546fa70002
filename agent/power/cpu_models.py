"""Watts per busy core for the CPU models the CPU-load estimate recognises, each with its basis.

The estimate (:mod:`agent.power.estimate`) multiplies the worker's CPU seconds by a figure of watts
per busy core. Where the device's target profile has its own ``watts_per_busy_core`` that figure
wins; otherwise the CPU is looked up here by the ``model name`` (x86) or ``Model`` (Raspberry Pi)
line of ``/proc/cpuinfo``. Each entry says how its figure was obtained and from what source; a
figure from a TDP is a package's thermal design power shared over its cores, an upper-end figure
for a fully loaded core rather than a measurement of one. A CPU that is not in the table gets
:data:`GENERIC` for its architecture, and every line the estimate writes says that it rests on a
generic assumption.
"""

from __future__ import annotations

import dataclasses
import platform
import re
from pathlib import Path
from typing import Optional, Tuple

GENOA_TABLE = "https://www.hpctech.co.jp/product/amd-epyc-9004-series/ (AMD EPYC 9004 specification table)"
PIDRAMBLE = "https://www.pidramble.com/wiki/benchmarks/power-consumption (Jeff Geerling)"


@dataclasses.dataclass(frozen=True)
class CoreWatts:
    """A figure of watts one fully busy core adds, and where it comes from."""

    watts_per_busy_core: float
    basis: str  # how the figure was obtained, with its source
    cpu: str  # the CPU it is for, or "unknown CPU ..." for a generic figure
    generic: bool = False  # True when no figure for this CPU was known


def _tdp(model: str, tdp_w: float, cores: int, source: str) -> Tuple[str, CoreWatts]:
    pattern = r"\b%s\b" % re.escape(model)
    basis = "%s: %g W default TDP / %d cores, a TDP share (%s)" % (model, tdp_w, cores, source)
    return pattern, CoreWatts(tdp_w / cores, basis, model)


#: (regular expression searched in the CPU model line, figure). First match wins.
KNOWN_CPUS: Tuple[Tuple[str, CoreWatts], ...] = (
    _tdp("EPYC 9654", 360.0, 96, GENOA_TABLE),
    _tdp("EPYC 9554", 360.0, 64, GENOA_TABLE),
    _tdp("EPYC 9534", 280.0, 64, GENOA_TABLE),
    _tdp("EPYC 9454", 290.0, 48, GENOA_TABLE),
    _tdp("EPYC 9354", 280.0, 32, GENOA_TABLE),
    _tdp("EPYC 9334", 210.0, 32, GENOA_TABLE),
    _tdp("EPYC 9254", 200.0, 24, GENOA_TABLE),
    (
        r"Raspberry Pi 4",
        CoreWatts(
            0.925,
            "Raspberry Pi 4 B measured: (6.4 W under stress --cpu 4 - 2.7 W idle) / 4 cores (%s)" % PIDRAMBLE,
            "Raspberry Pi 4 (4 x Cortex-A72)",
        ),
    ),
)

#: What an unknown CPU gets, per architecture: a generic assumption, labelled as one.
GENERIC = {
    "x86_64": 3.75,  # a server core's share of its package TDP (EPYC 9654: 360 W / 96 cores)
    "aarch64": 0.925,  # a small ARM core (Raspberry Pi 4's Cortex-A72, measured)
}
_GENERIC_BASIS = {
    "x86_64": "EPYC 9654's 360 W TDP / 96 cores, taken for any x86-64 core",
    "aarch64": "Raspberry Pi 4's measured 0.925 W per Cortex-A72 core, taken for any ARM core",
}
_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def cpu_model_name(proc_root: Path = Path("/proc")) -> str:
    """The CPU's model as ``/proc/cpuinfo`` names it: its ``model name`` line (x86, some ARM), else
    the board's ``Model`` line (Raspberry Pi); "" when neither is there."""
    try:
        text = (Path(proc_root) / "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("model name", "model") and key not in found and value.strip():
            found[key] = value.strip()
    return found.get("model name") or found.get("model") or ""


def core_watts(model_name: str, machine: Optional[str] = None) -> CoreWatts:
    """The figure for ``model_name``, or the generic one for the architecture (``platform.machine()``)."""
    for pattern, figure in KNOWN_CPUS:
        if re.search(pattern, model_name, flags=re.IGNORECASE):
            return figure
    arch = (machine if machine is not None else platform.machine()).lower()
    arch = _ARCH_ALIASES.get(arch, arch)
    watts = GENERIC.get(arch, GENERIC["aarch64"])
    assumption = _GENERIC_BASIS.get(arch, _GENERIC_BASIS["aarch64"])
    shown = model_name or "not named in /proc/cpuinfo"
    return CoreWatts(
        watts,
        "no figure for CPU %r (%s): %s" % (shown, arch or "unknown architecture", assumption),
        "unknown CPU %r" % shown,
        generic=True,
    )
