"""Runtime registry: name -> "module:Class", imported only when asked for.

A new runtime is one new file in this package plus one line here.
"""

from __future__ import annotations

import importlib
from typing import Dict, Type

from agent.errors import RuntimeLoadError
from agent.runtimes.base import Runtime

RUNTIMES = {
    "onnxruntime": "agent.runtimes.ort_runtime:ORTRuntime",
}


def get_runtime(name: str) -> Type[Runtime]:
    try:
        target = RUNTIMES[name]
    except KeyError:
        raise RuntimeLoadError(
            "unknown runtime %r; this agent knows: %s" % (name, ", ".join(sorted(RUNTIMES)))
        ) from None
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeLoadError("runtime %r cannot be imported here: %s" % (name, exc)) from exc
    return getattr(module, cls_name)


def installed_runtimes() -> Dict[str, str]:
    """name -> version for every registered runtime that imports on this device."""
    found = {}
    for name in RUNTIMES:
        try:
            found[name] = get_runtime(name).version()
        except RuntimeLoadError:
            continue
    return found
