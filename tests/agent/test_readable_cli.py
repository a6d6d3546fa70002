"""Every command of both apps, `--help`: readable metavars on any typer; usage errors in one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.cli import app as agent_app
from agent.readable_cli import ReadableTyper
from pipeline.cli import app as host_app

# typer 0.2x's own forms: {model} in usage lines, <bool> after flags, <path>/<str>/<list[Path]> types.
UNREADABLE = re.compile(r"\{|<(bool|list|path|str|int|float|text)\b", re.IGNORECASE)
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
# What may follow [OPTIONS] in a usage line: MODEL, [OUT], COMMAND [ARGS]...
USAGE_PIECE = re.compile(r"\[?[A-Z][A-Z_]*\]?(\.\.\.)?")


def command_paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from command_paths(sub, (*path, name))


APPS = {"edgeprof": host_app, "edgeprof-agent": agent_app}
CASES = [(prog, path) for prog, app in APPS.items() for path in command_paths(typer.main.get_command(app))]


def test_the_walk_finds_every_command() -> None:
    found = {" ".join((prog, *path)) for prog, path in CASES}
    assert {"edgeprof optimize", "edgeprof targets ls", "edgeprof targets show", "edgeprof-agent doctor"} <= found


@pytest.mark.parametrize(("prog", "path"), CASES, ids=[" ".join((p, *c)) for p, c in CASES])
def test_help_shows_readable_metavars(prog: str, path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(APPS[prog], [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    bad = [line for line in result.stdout.splitlines() if UNREADABLE.search(line)]
    assert bad == [], "\n".join(bad)
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line).split()
    after_options = usage[usage.index("[OPTIONS]") + 1 :]
    assert all(USAGE_PIECE.fullmatch(piece) for piece in after_options), " ".join(usage)


def test_arguments_read_like_click_8_1() -> None:
    app = ReadableTyper(error_prefix="tool")

    @app.command()
    def copy(
        model: Path = typer.Argument(..., help="The source."),
        out: Path | None = typer.Argument(None, help="The target."),
        tags: list[str] | None = typer.Option(None, "--tag", help="Repeatable."),
        count: int = typer.Option(1, help="How many."),
        force: bool = typer.Option(False, "--force", help="Overwrite."),
    ) -> None:
        """Copy MODEL to OUT."""

    @app.command()
    def other() -> None:
        """A second command, so that the app is a group."""

    result = CliRunner().invoke(app, ["copy", "--help"], env=WIDE)
    lines = [" ".join(line.strip("│ ").split()) for line in result.stdout.splitlines()]
    assert "Usage: root copy [OPTIONS] MODEL [OUT]" in lines
    assert any(line.startswith("--tag TEXT Repeatable.") for line in lines), lines
    assert any(line.startswith("--count INTEGER How many.") for line in lines), lines
    assert any(line.startswith("--force Overwrite.") for line in lines), lines


def test_usage_errors_are_one_line_naming_the_fix() -> None:
    result = CliRunner().invoke(host_app, ["targets", "ls", "--bogus"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeprof: error: No such option") and "--bogus" in lines[0]
    assert lines[0].endswith("(try 'root targets ls --help')")


@pytest.mark.parametrize(
    ("prog", "args", "fragment"),
    [
        ("edgeprof", ["frobnicate"], "No such command 'frobnicate'"),
        ("edgeprof", ["optimize"], "Missing argument 'MODEL'"),
        ("edgeprof", ["optimize", "m.onnx", "--sla-p99-ms", "soon"], "Invalid value for '--sla-p99-ms'"),
        ("edgeprof-agent", ["run", "--resend-interval", "soon"], "Invalid value for '--resend-interval'"),
    ],
)
def test_every_usage_error_line_carries_the_prefix(prog: str, args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(APPS[prog], args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result.stderr
    assert fragment in lines[0]


def test_no_arguments_still_shows_the_help() -> None:
    result = CliRunner().invoke(host_app, ["targets"])
    assert "error" not in result.output
    assert "ls" in result.output and "show" in result.output
