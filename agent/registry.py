"""Plug-in registries: a name maps to ``"module:Class"``, imported only when asked for.

Runtimes, power sensors and the host's optimisation passes all register this way, so that listing
what exists costs nothing and a plug-in's heavy dependencies load only when it is used. A new
plug-in is one new file plus one line in its registry (or a :meth:`Registry.register` call).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Iterator, List, Type


def load_object(target: str) -> Any:
    """Import ``"package.module:Name"`` and return ``Name``. ImportError if the module cannot load;
    AttributeError if it has no such name."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("registry entry %r is not of the form 'module:Name'" % target)
    return getattr(importlib.import_module(module_name), attr)


class Registry:
    """``name -> "module:Class"``; ``get(name)`` imports lazily and maps failures to ``error``.

    ``error`` builds the exception for an unknown name or an import failure (each registry has its
    own error type: RuntimeLoadError, SensorError, ValueError)."""

    def __init__(self, what: str, entries: Dict[str, str], error: Callable[[str], Exception]) -> None:
        self.what = what
        self.entries = dict(entries)
        self._error = error

    def register(self, name: str, target: str) -> None:
        """Add (or replace) one entry: how a plug-in outside this package makes itself known."""
        self.entries[name] = target

    def unregister(self, name: str) -> None:
        self.entries.pop(name, None)

    def names(self) -> List[str]:
        return list(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.entries))

    def get(self, name: str) -> Type[Any]:
        try:
            target = self.entries[name]
        except (KeyError, TypeError):
            raise self._error("unknown %s %r; known: %s" % (self.what, name, ", ".join(sorted(self.entries)))) from None
        try:
            return load_object(target)  # type: ignore[no-any-return]
        except ImportError as exc:
            raise self._error("%s %r cannot be imported here: %s" % (self.what, name, exc)) from exc
