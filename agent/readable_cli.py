"""Typer apps whose help and usage errors read the same on every typer version.

Both commands, ``edgeprof`` and ``edgeprof-agent``, build their apps with :class:`ReadableTyper`.
Typer 0.2x (which vendors click) prints ``{model}`` in usage lines and ``<bool>``, ``<path>``,
``<list[Path]>`` as types, even for flags and ``--help``. Typer up to 0.20 with click 8.1, which is
what Python 3.8 gets, prints ``MODEL``, ``[OUT]``, ``PATH``. A ReadableTyper prints the click forms
on both:

- required arguments ``MODEL``, optional ones ``[OUT]``;
- option values ``PATH``, ``TEXT``, ``INTEGER``, ``FLOAT``, ``[a|b]`` for choices, or the
  option's own ``metavar=``;
- nothing after a flag.

It also turns usage errors into one line that names the fix, as the commands' own errors are:
``edgeprof: error: No such option: --bogus (try 'edgeprof optimize --help')``, exit 2.

It lives in agent/ so that both sides can use it (the agent never imports pipeline). It needs
nothing but typer.
"""

from __future__ import annotations

import enum
from typing import Any, List, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["ReadableCommand", "ReadableGroup", "ReadableTyper"]

# click's UsageError, from wherever this typer takes click (its own copy in 0.2x, click before):
# typer.BadParameter is public in every version and is a UsageError subclass.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

# click's names for the Python types typer 0.2x describes by their annotation.
_TYPE_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH", "bool": "BOOLEAN"}


def _type_label(param: Any) -> str:
    """click's metavar for a typer 0.2x parameter, from its annotation (``<path>`` becomes ``PATH``)."""
    desc = param.type_descriptor
    if desc.is_choice:
        values = [c.value if isinstance(c, enum.Enum) else c for c in desc.choices]
        return "[%s]" % "|".join(str(v) for v in values)
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    element = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) in (list, tuple) and element:
        annotation = element[0]
    name = getattr(annotation, "__name__", str(annotation))
    return _TYPE_LABELS.get(name, name.upper())


def _readable(params: List[Any]) -> List[Any]:
    """Give each parameter a click-style metavar where typer would print its own form."""
    for param in params:
        if param.param_type_name == "option" and (param.is_flag or param.count):
            if param.metavar is None:
                param.metavar = ""  # typer 0.2x prints <bool> after a flag otherwise
        elif not hasattr(param, "type_descriptor"):
            continue  # typer with click 8.1: its metavars read well already
        elif param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            # The Arguments panel's type column has no metavar hook in typer 0.2x.
            param.display_type_rich = lambda ctx, label=_type_label(param): label
        elif param.metavar is None:
            param.metavar = _type_label(param)
    return params


def _usage_pieces(command: Any, ctx: Any) -> List[str]:
    """``[OPTIONS] MODEL [OUT]``: arguments as click 8.1 writes them, on every typer."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            pieces.extend(param.get_usage_pieces(ctx))
            continue
        label = param.metavar or (param.name or "").upper()
        if not param.required:
            label = "[%s]" % label
        if param.nargs != 1:
            label += "..."
        pieces.append(label)
    return pieces


class ReadableCommand(TyperCommand):
    """A command whose usage line and options read ``MODEL``, ``[OUT]``, ``PATH``."""

    def get_params(self, ctx: Any) -> List[Any]:
        return _readable(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return _usage_pieces(self, ctx)


class ReadableGroup(TyperGroup):
    """A command group with readable metavars; as the root, it makes usage errors one line."""

    error_prefix = "edgeprof"

    def get_params(self, ctx: Any) -> List[Any]:
        return _readable(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return _usage_pieces(self, ctx) + [self.subcommand_metavar]

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        if parent is not None:  # a sub-group: the root reports its errors
            return super().make_context(info_name, args, parent=parent, **extra)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _UsageError as exc:
            self._fail(exc)

    def invoke(self, ctx: Any) -> Any:
        if ctx.parent is not None:
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            self._fail(exc)

    def _fail(self, exc: Any) -> NoReturn:
        """Print ``exc`` as one ``PREFIX: error:`` line and exit with its code (2)."""
        if type(exc).__name__ == "NoArgsIsHelpError":  # click 8.2+: "no arguments" shows the help
            raise exc
        message = exc.format_message().rstrip(".")
        ctx = getattr(exc, "ctx", None)
        hint = " (try '%s --help')" % ctx.command_path if ctx is not None else ""
        typer.echo("%s: error: %s%s" % (self.error_prefix, message, hint), err=True)
        raise typer.Exit(exc.exit_code)


class ReadableTyper(typer.Typer):
    """``typer.Typer`` whose groups and commands are the readable ones above.

    ``error_prefix`` starts each usage-error line: ``edgeprof`` or ``edgeprof-agent``.
    """

    def __init__(self, *, error_prefix: str = "edgeprof", **kwargs: Any) -> None:
        group = type("ReadableGroup", (ReadableGroup,), {"error_prefix": error_prefix})
        kwargs.setdefault("cls", group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("cls") is None:
            kwargs["cls"] = ReadableCommand
        return super().command(*args, **kwargs)
