"""make_console on a pipe (no folding, no colour) and on a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import sys

import pytest
from rich.table import Table

from pipeline.console import PIPE_WIDTH, make_console


def wide_table(columns: int = 12) -> Table:
    table = Table()
    for n in range(columns):
        table.add_column(f"column-{n}")
    table.add_row(*(f"jetson-orin-nano-8gb-{n}" for n in range(columns)))
    return table


def piped(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Make stdout a pipe-like text stream (not a terminal), $COLUMNS unset.

    Called in the test body: pytest puts its own capture back on sys.stdout after the fixtures ran.
    """
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich would colour a non-terminal with this; we must not
    return stream


def test_a_pipe_gets_a_table_whole_and_without_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = piped(monkeypatch)
    console = make_console()
    assert console.width == PIPE_WIDTH and not console.is_terminal
    console.print(wide_table())
    console.print("[bold red]jetson-orin-nano-8gb[/bold red]")
    text = stream.getvalue()
    assert "\x1b[" not in text and "…" not in text
    assert all(f"jetson-orin-nano-8gb-{n}" in text for n in range(12))
    assert len(text.splitlines()[1]) > 300  # one row per line, nothing folded


def test_columns_sets_the_width_of_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = piped(monkeypatch)
    monkeypatch.setenv("COLUMNS", "120")
    make_console().print(wide_table())
    assert max(len(line) for line in stream.getvalue().splitlines()) == 120


def test_stderr_console_writes_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    make_console(stderr=True).print("edgeprof: note: a note", soft_wrap=True)
    assert err.getvalue() == "edgeprof: note: a note\n"


def test_a_terminal_gets_richs_own_console(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    terminal = open(follower, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        monkeypatch.setattr(sys, "stdout", terminal)
        monkeypatch.setenv("COLUMNS", "97")
        monkeypatch.setenv("TERM", "xterm-256color")
        monkeypatch.delenv("NO_COLOR", raising=False)
        console = make_console()
        assert console.is_terminal and console.width == 97
        assert console.color_system is not None
    finally:
        terminal.close()
        os.close(leader)
