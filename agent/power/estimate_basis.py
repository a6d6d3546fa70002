"""The CPU-load estimate's figures for this device, from its target profile where it has them.

A profile in ``targets/`` may carry ``watts_per_busy_core`` and ``idle_power``, each a figure with a
source or an estimate basis. They beat the CPU-model table (:mod:`agent.power.cpu_models`) and the
generic figures, because they were written for this very device. Without an ``idle_power`` the
estimate knows only the power above idle, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

#: What the estimate's idle figure is when nothing gives one.
IDLE_UNKNOWN = "unknown: the target profile has no idle_power figure, so the estimate gives power above idle only"


def _provenance(figure: Any, profile_id: str, field: str) -> str:
    return "target profile %s %s: %s" % (profile_id, field, figure.provenance)


def estimate_options(
    target_id: str, proc_root: Path = Path("/proc"), sysfs_root: Path = Path("/sys")
) -> Dict[str, Any]:
    """Keyword arguments for :class:`~agent.power.estimate.CPULoadEstimate` from profile ``target_id``
    (shipped, or in ``$EDGEPROF_TARGETS_DIR``): ``watts_per_busy_core``/``basis`` and
    ``idle_w``/``idle_basis`` where the profile has them; {} without a profile or a readable one."""
    if not target_id:
        return {}
    try:
        from targets import load_profiles

        profile = load_profiles(proc_root=proc_root, sysfs_root=sysfs_root)[target_id]
    except Exception:  # a broken user profile must not stop a benchmark: the table still applies
        return {}
    options: Dict[str, Any] = {}
    core = getattr(profile, "watts_per_busy_core", None)
    if core is not None:
        options["watts_per_busy_core"] = float(core.value)
        options["basis"] = _provenance(core, profile.id, "watts_per_busy_core")
    if profile.idle_power is not None:
        options["idle_w"] = float(profile.idle_power.value)
        options["idle_basis"] = _provenance(profile.idle_power, profile.id, "idle_power")
    return options
