"""The rich Console every ``edgeprof`` command prints through.

On a terminal it is rich's own: the terminal's width, colour. Not on a terminal (a pipe, a file,
CI), rich would fold every table at 80 columns, cutting the ids people grep for and copy
(``jetson-orin-na…``). There the console is as wide as ``$COLUMNS`` when that is set, and otherwise
wider than any table it prints (:data:`PIPE_WIDTH`), and it writes no colour codes. Renderables
that stretch to the console's width (``Panel``, ``Rule``, ``Table(expand=True)``) would stretch to
that width too: output meant for pipes does not use them.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["PIPE_WIDTH", "make_console"]

#: Columns of a console that is not a terminal and has no $COLUMNS: wider than any table we print.
PIPE_WIDTH = 10_000


def make_console(stderr: bool = False, *, highlight: bool = True) -> Console:
    """A console on stdout (or stderr) that folds tables only to fit a real terminal.

    ``highlight=False`` turns off rich's colouring of numbers and strings in printed text.
    """
    stream = sys.stderr if stderr else sys.stdout
    if _is_terminal(stream):
        return Console(stderr=stderr, highlight=highlight)
    return Console(
        stderr=stderr,
        highlight=highlight,
        width=_columns() or PIPE_WIDTH,
        color_system=None,
        force_terminal=False,
        force_interactive=False,
        legacy_windows=False,
    )


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _columns() -> int | None:
    """$COLUMNS when it holds a positive number of columns, else None."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
