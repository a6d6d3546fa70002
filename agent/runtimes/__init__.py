"""Runtime registry: name -> "module:Class", imported only when asked for.

A new runtime is one new file in this package plus one line in :data:`RUNTIMES` (or a
``RUNTIMES.register`` call from a plug-in). Importing a runtime module is cheap: vendor packages
load inside its methods, so :func:`declared_runtimes` works where the vendor package is missing.
"""

from __future__ import annotations

from typing import Dict, Type

from agent.errors import RuntimeLoadError
from agent.registry import Registry
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime

__all__ = [
    "RUNTIMES",
    "InputSpec",
    "LocalArtifact",
    "Runtime",
    "declared_runtimes",
    "get_runtime",
    "installed_runtimes",
]

RUNTIMES = Registry(
    "runtime",
    {
        "onnxruntime": "agent.runtimes.ort_runtime:ORTRuntime",
        "openvino": "agent.runtimes.ov_runtime:OVRuntime",
        "tensorrt": "agent.runtimes.trt_runtime:TRTRuntime",
    },
    RuntimeLoadError,
)


def get_runtime(name: str) -> Type[Runtime]:
    """The runtime class registered as ``name``; RuntimeLoadError if unknown or not importable."""
    return RUNTIMES.get(name)


def declared_runtimes() -> Dict[str, Type[Runtime]]:
    """name -> class for every registered runtime whose module imports (vendor package or not)."""
    found = {}
    for name in RUNTIMES:
        try:
            found[name] = get_runtime(name)
        except RuntimeLoadError:
            continue
    return found


def installed_runtimes() -> Dict[str, str]:
    """name -> version for every registered runtime whose vendor package works on this device."""
    found = {}
    for name, cls in declared_runtimes().items():
        try:
            found[name] = cls.version()
        except RuntimeLoadError:
            continue
    return found
