"""``edgeprof targets``: list the device profiles and show one with every figure's provenance.

Mounted by ``pipeline.cli`` as a sub-command group. Profiles come from the catalogue shipped in
``targets/`` merged with the user's folders (``--targets-dir``, repeatable, or
``$EDGEPROF_TARGETS_DIR``); a user profile with a shipped id replaces it, and a note says so.
Exit codes: 0 fine, 1 a malformed profile (the message names the file, field and expected form),
2 an unknown target id (the message lists the known ones). Errors and notes go to stderr, one line
each, as ``edgeprof: error: ...`` and ``edgeprof: note: ...``.

``ls`` never cuts an id, the one thing a user copies: the id column does not wrap, the others wrap
between words to fit the console, and a console too narrow for that gets one block per profile
instead. Through a pipe the console is as wide as the table (:func:`pipeline.console.make_console`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.readable_cli import ReadableTyper
from pipeline.console import make_console
from targets import Catalog, Figure, ProfileError, TargetProfile, UnknownTargetError, load_profiles

app = ReadableTyper(
    error_prefix="edgeprof",
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
    try:
        catalog = load_profiles(extra_dirs=targets_dir or [], include_env=False)
    except ProfileError as exc:
        _say_err(f"edgeprof: error: {exc}")
        raise typer.Exit(1) from None
    for note in catalog.notes:
        _say_err(f"edgeprof: note: {note}")
    return catalog


def _say_err(line: str) -> None:
    """One unwrapped line on stderr."""
    make_console(stderr=True).print(line, highlight=False, markup=False, soft_wrap=True)


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
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", metavar="DIR", help=TARGETS_DIR_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the profiles as JSON instead of a table."),
) -> None:
    """List every known target profile with its headline figures."""
    catalog = load_catalog(targets_dir)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in catalog.values()], indent=2))
        return
    out = make_console()
    table = _profiles_table(catalog, out.width)
    if table is None:
        _print_blocks(out, catalog)  # too narrow for a table that cuts nothing
    else:
        out.print(table)
    for line in _packed(LEGEND, out.width):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


LEGEND = (
    "~ estimate (no source)",
    "* sparse peak",
    "Est.: figures without a source",
    "sum of N: no total rail, N rails summed",
    "`edgeprof targets show ID` gives each figure's source",
)
_COLUMNS = ("Kind", "Peak (default mode)", "Memory BW", "Power (modes)", "Total rail", "Price", "Est.")


def _cells(p: TargetProfile) -> list[str]:
    """The row of one profile, after its id, in the order of ``_COLUMNS``."""
    return [p.kind, _headline(p), _fig(p.memory_bandwidth()), _power(p), _total(p), _price(p), str(len(p.estimates()))]


def _profiles_table(catalog: Catalog, width: int) -> Table | None:
    """One row per profile in ``width`` columns, or None where that is too narrow.

    The id column is as wide as the longest id. The others wrap between words, are never narrower
    than their longest word and share what is left: nothing is cut, mid-word or at the right edge.
    """
    with_origin = any(p.origin != "shipped" for p in catalog.values())
    headers = ("ID",) + _COLUMNS + (("Origin",) if with_origin else ())
    rows = [[p.id, *_cells(p), *([p.origin] if with_origin else [])] for p in catalog.values()]
    texts = [[header] + [row[i] for row in rows] for i, header in enumerate(headers)]
    longest_line = [max(len(line) for text in column for line in text.splitlines() or [""]) for column in texts]
    longest_word = [max(len(word) for text in column for word in text.split()) for column in texts]
    longest_word[0] = longest_line[0]  # ids never wrap
    # Outside the cells: the box's blank edge on each side, and between two columns its blank
    # separator and one space of padding.
    widths = _share(longest_word, longest_line, width - 2 - 2 * (len(headers) - 1))
    if widths is None:
        return None
    table = Table(title=f"Target profiles ({len(catalog)})", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("ID", no_wrap=True, width=widths[0])
    for header, column_width in zip(headers[1:], widths[1:], strict=True):
        table.add_column(header, overflow="fold", width=column_width)
    for row in rows:
        table.add_row(*row)
    return table


def _share(least: list[int], most: list[int], available: int) -> list[int] | None:
    """Column widths between ``least`` and ``most`` that fill ``available``; None if ``least`` does not fit."""
    widths = list(least)
    spare = available - sum(widths)
    if spare < 0:
        return None
    while spare > 0 and any(w < m for w, m in zip(widths, most, strict=True)):
        for i, (w, m) in enumerate(zip(widths, most, strict=True)):
            if w < m and spare > 0:
                widths[i] += 1
                spare -= 1
    return widths


def _print_blocks(out: Console, catalog: Catalog) -> None:
    """The narrow layout: each id on its own line, its figures on the next (the terminal wraps them)."""
    for p in catalog.values():
        figures = "; ".join(f"{name.lower()}: {value}" for name, value in zip(_COLUMNS, _cells(p), strict=True))
        origin = "" if p.origin == "shipped" else f"; origin: {p.origin}"
        out.print(p.id, highlight=False, markup=False, soft_wrap=True)
        out.print(f"  {figures.replace(chr(10), ', ')}{origin}", highlight=False, markup=False, soft_wrap=True)


def _packed(items: tuple[str, ...], width: int) -> list[str]:
    """Items joined by `` · `` into lines of at most ``width``, never splitting an item."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return lines


@app.command("show")
def show_command(
    target_id: str = typer.Argument(..., metavar="ID", help="A profile id, as listed by `edgeprof targets ls`."),
    targets_dir: list[Path] | None = typer.Option(
        None, "--targets-dir", envvar="EDGEPROF_TARGETS_DIR", metavar="DIR", help=TARGETS_DIR_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Show one profile: runtimes, power modes and their peaks, rails, prices, and every figure's source."""
    catalog = load_catalog(targets_dir)
    try:
        profile = catalog.require(target_id)
    except UnknownTargetError as exc:
        _say_err(f"edgeprof: error: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(profile.to_dict(), indent=2))
        return
    print_profile(make_console(highlight=False), profile)


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
