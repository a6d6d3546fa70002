"""``edgeprof-agent doctor``, and the target detection ``run`` shares with it: which profile this
device matches and why, which runtimes and power sources work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

import typer

from agent.cli_options import TARGETS_DIR_HELP
from agent.errors import AgentError

if TYPE_CHECKING:
    from targets import Catalog


def _load_catalog(
    targets_dir: Optional[List[Path]], proc_root: Path = Path("/proc"), sysfs_root: Path = Path("/sys")
) -> Catalog:
    """Shipped profiles plus the user's folders, as ``edgeprof targets`` loads them; AgentError if one is bad."""
    from targets import ProfileError, load_profiles

    try:
        catalog = load_profiles(
            extra_dirs=targets_dir or [], include_env=False, proc_root=proc_root, sysfs_root=sysfs_root
        )
    except ProfileError as exc:
        raise AgentError(str(exc)) from None
    for note in catalog.notes:
        typer.echo("edgeprof-agent: note: %s" % note, err=True)
    return catalog


def detect_target(
    targets_dir: Optional[List[Path]] = None, sysfs_root: Path = Path("/sys"), proc_root: Path = Path("/proc")
) -> str:
    """The profile this device matches, or "" where none does or the shipped catalogue cannot be read.

    Folders the user named are read first, outside the guard: a bad one is an AgentError, not a
    silent miss.
    """
    profiles = _load_catalog(targets_dir, proc_root, sysfs_root) if targets_dir else None
    try:
        from agent.device_match import match_device

        if profiles is None:
            profiles = _load_catalog(None, proc_root, sysfs_root)
        return match_device(sysfs_root=sysfs_root, proc_root=proc_root, profiles=profiles).profile_id or ""
    except Exception:  # detection is a convenience; the profile can be given with --target
        return ""


def doctor(
    targets_dir: Optional[List[Path]] = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", metavar="DIR", help=TARGETS_DIR_HELP
    ),
    sysfs_root: Path = typer.Option(Path("/sys"), hidden=True, help="Root of the sysfs tree (for tests)."),
    proc_root: Path = typer.Option(Path("/proc"), hidden=True, help="Root of the procfs tree (for tests)."),
) -> None:
    """Say which device profile this machine matches and why, which runtimes and power sources work."""
    from agent.device_match import match_device
    from agent.power import probe
    from agent.runtimes import installed_runtimes

    try:
        profiles = _load_catalog(targets_dir, proc_root=proc_root, sysfs_root=sysfs_root)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(1) from None
    yours = [p for p in profiles.values() if p.origin == "user"]
    if yours:
        ids = ", ".join(p.id for p in yours)
        typer.echo("profiles: %d shipped, %d of yours: %s" % (len(profiles) - len(yours), len(yours), ids))
    match = match_device(sysfs_root=sysfs_root, proc_root=proc_root, profiles=profiles)
    for line in match.describe():
        typer.echo(line)
    runtimes = installed_runtimes()
    typer.echo("runtimes: " + (", ".join("%s %s" % kv for kv in sorted(runtimes.items())) or "none found"))
    for name, problem in _missing_runtimes(runtimes).items():
        typer.echo("  %-9s no: %s" % (name, problem))
    if sysfs_root == Path("/sys"):
        _echo_power_mode()
    typer.echo("power sources:")
    for name, problem in probe(sysfs_root=sysfs_root, proc_root=proc_root).items():
        typer.echo("  %-9s %s" % (name, "works" if problem is None else "no: %s" % problem))


def _missing_runtimes(installed: Dict[str, str]) -> Dict[str, str]:
    """name -> why, for the registered runtimes that do not work here."""
    from agent.errors import RuntimeLoadError
    from agent.runtimes import declared_runtimes

    missing = {}
    for name, cls in declared_runtimes().items():
        if name not in installed:
            try:
                cls.version()
            except RuntimeLoadError as exc:
                missing[name] = str(exc)
    return missing


def _echo_power_mode() -> None:
    """The Jetson power mode this device is in (what --power-modes switches from and back to)."""
    from agent.power_modes import NVPModel, PowerModeError

    nvpmodel = NVPModel.detect()
    if nvpmodel is None:
        return
    try:
        mode = nvpmodel.query()
        typer.echo(
            "power mode: %s (nvpmodel %d); modes: %s" % (mode.name, mode.id, ", ".join(nvpmodel.modes().values()))
        )
    except PowerModeError as exc:
        typer.echo("power mode: unknown (%s)" % exc)
