"""Which built variant goes to which device: every build to every device that can run it.

A device that lacks the variant's runtime (its agent did not report it) or whose target profile
does not list that runtime is skipped for that variant, with the reason: it is not an error, and
the run's summary lists it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.protocol import AgentStatus
from pipeline.build import Built
from pipeline.plan import Skipped


def assign(
    built: Sequence[Built],
    devices: Mapping[str, AgentStatus],
    profile_runtimes: Mapping[str, Sequence[str]] | None = None,
    profile_modes: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[tuple[Built, str]], list[Skipped]]:
    """``(assignments, skipped)``; ``profile_runtimes`` maps a target profile id to the runtimes it
    lists (profiles that list none do not restrict); ``profile_modes`` maps it to its power modes,
    and a variant measured in a power mode goes only to devices whose profile has that mode."""
    pairs: list[tuple[Built, str]] = []
    skipped: list[Skipped] = []
    for device_id, status in devices.items():
        listed = list((profile_runtimes or {}).get(status.target, ()))
        for b in built:
            runtime = b.spec.runtime
            if runtime not in status.runtimes:
                have = ", ".join(sorted(status.runtimes)) or "none"
                skipped.append(
                    Skipped(b.spec.id, f"the agent on {device_id} has no {runtime} (it has {have})", device_id)
                )
            elif listed and runtime not in listed:
                skipped.append(
                    Skipped(
                        b.spec.id,
                        f"{device_id}'s target profile {status.target} lists {', '.join(listed)}, not {runtime}",
                        device_id,
                    )
                )
            elif (
                b.spec.power_mode
                and profile_modes is not None
                and not _has_mode(profile_modes, status, b.spec.power_mode)
            ):
                modes = ", ".join(profile_modes.get(status.target, ())) or "none"
                skipped.append(
                    Skipped(
                        b.spec.id,
                        f"{device_id}'s target profile {status.target or '(unknown)'} has no power mode "
                        f"{b.spec.power_mode} (its modes: {modes}); add 'current' to --power-modes to measure "
                        "such devices as they are",
                        device_id,
                    )
                )
            else:
                pairs.append((b, device_id))
    return pairs, skipped


def _has_mode(profile_modes: Mapping[str, Sequence[str]], status: AgentStatus, mode: str) -> bool:
    return mode.lower() in {m.lower() for m in profile_modes.get(status.target, ())}


def profile_power_mode_names(extra_dirs: Sequence[str] = ()) -> dict[str, list[str]]:
    """Target profile id -> names of its power modes (nvpmodel modes on a Jetson)."""
    from targets import load_profiles

    return {pid: [m.name for m in p.power_modes] for pid, p in load_profiles(extra_dirs=list(extra_dirs)).items()}


def profile_runtime_names(extra_dirs: Sequence[str] = ()) -> dict[str, list[str]]:
    """Target profile id -> names of the runtimes it lists, from the catalogue in ``targets/``."""
    from targets import load_profiles

    return {pid: [r.name for r in p.runtimes] for pid, p in load_profiles(extra_dirs=list(extra_dirs)).items()}
