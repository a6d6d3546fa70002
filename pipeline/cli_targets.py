"""``edgeprof targets``: list the device profiles and show one with every figure's provenance.

Mounted by ``pipeline.cli`` as a sub-command group. Profiles come from the catalogue shipped in
``targets/`` merged with the user's folders (``--targets-dir``, repeatable, or
``$EDGEPROF_TARGETS_DIR``); a user profile with a shipped id replaces it, and a note says so.
Exit codes: 0 fine, 1 a malformed profile (the message names the file, field and expected form),
2 an unknown target id (the message lists the known ones).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from targets import Catalog, Figure, ProfileError, TargetProfile, UnknownTargetError, load_profiles

app = typer.Typer(
    help="Device profiles: runtimes, peak compute, memory bandwidth, power modes, rails and prices, "
    "each figure with its source or marked as an estimate.",
    no_args_is_help=True,
)

TARGETS_DIR_HELP = (
    "A folder of your own profile .yaml files (repeatable); a profile with a shipped id replaces it. "
    "Also read from $EDGEPROF_TARGETS_DIR (folders separated by ':')."
)
_PEAK_ORDER = ("int8", "fp8", "fp16", "bf16", "fp32")


def load_catalog(targets_dir: list[Path] | None) -> Catalog:
    """The catalogue for a command, or exit 1 with the profile error (no traceback)."""
    err = Console(stderr=True)
    try:
        catalog = load_profiles(extra_dirs=targets_dir or [], include_env=False)
    except ProfileError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for note in catalog.notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    return catalog


def _fig(fig: Figure | None) -> str:
    """A figure in a list cell: ``~`` marks an estimate, ``*`` a sparse peak (the legend says so)."""
    if fig is None:
        return "-"
    return f"{'~' if fig.estimate else ''}{fig.value:g} {fig.unit}{'*' if fig.sparse else ''}"


def _headline(profile: TargetProfile) -> str:
    peaks = profile.default_mode.peak_compute
    for precision in _PEAK_ORDER:
        if precision in peaks:
            return f"{precision} {_fig(peaks[precision])}"
    return "-"


def _power(profile: TargetProfile) -> str:
    limits = [m.limit.value for m in profile.power_modes if m.limit is not None]
    count = len(profile.power_modes)
    if not limits:
        return ", ".join(m.name for m in profile.power_modes)
    low, high = min(limits), max(limits)
    return f"{high:g} W" if low == high else f"{low:g}-{high:g} W ({count})"


def _total(profile: TargetProfile) -> str:
    ps = profile.power_sensing
    if ps.total_rail:
        return ps.total_rail
    if ps.total_is_sum:
        return f"sum of {len(ps.rails)}"
    return f"none ({ps.sensor})" if ps.sensor != "none" else "none"


def _price(profile: TargetProfile) -> str:
    parts = [_fig(f) for f in (profile.price.purchase, profile.price.rental_hourly) if f is not None]
    return "\n".join(parts) or "-"


@app.command("ls")
def ls_command(
    targets_dir: list[Path] | None = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", help=TARGETS_DIR_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the profiles as JSON instead of a table."),
) -> None:
    """List every known target profile with its headline figures."""
    catalog = load_catalog(targets_dir)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in catalog.values()], indent=2))
        return
    with_origin = any(p.origin != "shipped" for p in catalog.values())
    table = Table(
        title=f"Target profiles ({len(catalog)})",
        caption="~ estimate (no source) · * sparse peak · Est.: figures without a source · "
        "sum of N: no total rail, N rails summed · `edgeprof targets show ID` gives each figure's source",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("ID", no_wrap=True)
    for column in ("Kind", "Peak (default mode)", "Memory BW", "Power (modes)", "Total rail", "Price", "Est."):
        table.add_column(column, no_wrap=True)
    if with_origin:
        table.add_column("Origin")
    for p in catalog.values():
        row = [p.id, p.kind, _headline(p), _fig(p.memory_bandwidth()), _power(p), _total(p), _price(p)]
        row.append(str(len(p.estimates())))
        table.add_row(*(row + [p.origin] if with_origin else row))
    Console().print(table)


@app.command("show")
def show_command(
    target_id: str = typer.Argument(..., metavar="ID", help="A profile id, as listed by `edgeprof targets ls`."),
    targets_dir: list[Path] | None = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", help=TARGETS_DIR_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Show one profile: runtimes, power modes and their peaks, rails, prices, and every figure's source."""
    catalog = load_catalog(targets_dir)
    try:
        profile = catalog.require(target_id)
    except UnknownTargetError as exc:
        Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(profile.to_dict(), indent=2))
        return
    print_profile(Console(highlight=False), profile)


def print_profile(out: Console, p: TargetProfile) -> None:
    """The full human-readable view of one profile."""

    def say(text: str) -> None:
        out.print(text, markup=False, soft_wrap=True)

    out.print(f"[bold]{escape(p.name)}[/bold] ({escape(p.id)})")
    say(f"kind {p.kind}, arch {p.arch}; {p.origin} profile {p.path}")
    if p.overrides is not None:
        say(f"overrides the shipped profile {p.overrides}")
    say(p.summary)
    if p.memory_capacity is not None:
        say(f"memory: {p.memory_capacity}")
    if p.host is not None:
        h = p.host
        clock = f"{h.max_freq_ghz:.2f} GHz" if h.max_freq_ghz else "unknown"
        say(
            f"this machine: {h.cpu_model or 'unknown CPU'}; {h.logical_cores} logical / "
            f"{h.physical_cores or '?'} physical cores; max clock {clock}; ISA {', '.join(h.isa) or '-'}"
        )

    modes = Table(title="Power modes")
    for column in ("Mode", "Limit", "Peak compute", "Memory BW", "Notes"):
        modes.add_column(column, overflow="fold")
    for m in p.power_modes:
        peaks = "\n".join(f"{k}: {v}" for k, v in m.peak_compute.items()) or "not published"
        notes = []
        if m.default:
            notes.append("default")
        if m.requires:
            notes.append(f"requires {m.requires}")
        if m.nvpmodel_id is not None:
            notes.append(f"nvpmodel {m.nvpmodel_id}")
        modes.add_row(m.name, _fig(m.limit), peaks, _fig(m.memory_bandwidth), ", ".join(notes))
    out.print(modes)

    runtimes = Table(title="Runtimes")
    for column in ("Runtime", "Versions", "Precisions", "Devices"):
        runtimes.add_column(column, overflow="fold")
    for rt in p.runtimes:
        runtimes.add_row(rt.name, "\n".join(rt.versions), ", ".join(rt.precisions), ", ".join(rt.devices))
    out.print(runtimes)
    for line in p.software:
        say(f"software: {line.name} {line.version}" + (f" - {line.note}" if line.note else ""))

    ps = p.power_sensing
    say(f"power sensing: {ps.sensor}; rails: {', '.join(ps.rails) or 'none'}; total: {_total(p)}")
    say(f"  scope: {ps.scope}")
    say(f"idle power: {_fig(p.idle_power)}")
    say(f"price ({p.price.item}): purchase {_fig(p.price.purchase)}, rental {_fig(p.price.rental_hourly)}")

    figures = Table(title="Figures and their provenance")
    for column in ("Field", "Value", "Provenance"):
        figures.add_column(column, overflow="fold")
    for field, fig in p.figures():
        figures.add_row(field, str(fig), fig.provenance)
    out.print(figures)

    if p.sources:
        sources = Table(title="Sources")
        for column in ("Key", "URL", "Retrieved", "Checked via"):
            sources.add_column(column, overflow="fold")
        for src in p.sources.values():
            sources.add_row(src.key, src.url, src.retrieved, src.checked_via or "")
        out.print(sources)
    for note in p.notes:
        say(f"note: {note}")
