"""Optimisation passes: each turns one ONNX model into one variant (upgraded, quantized, pruned...).

A pass is one module here with one :class:`~pipeline.passes.base.Pass` subclass, registered by one
line in :data:`PASSES`. Modules are imported only when :func:`get_pass` asks for them, so listing
the passes costs nothing and a pass's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pipeline.passes.base import PassContext

if TYPE_CHECKING:
    from pipeline.passes.base import Pass

__all__ = ["PASSES", "PassContext", "available_passes", "get_pass"]

#: Registry: pass name -> "module:Class".
PASSES: dict[str, str] = {
    "opset_upgrade": "pipeline.passes.opset_upgrade:OpsetUpgrade",
    "quantize_static": "pipeline.passes.quantize_static:QuantizeStatic",
    "quantize_dynamic": "pipeline.passes.quantize_dynamic:QuantizeDynamic",
    "fp16": "pipeline.passes.fp16:ConvertFP16",
    "prune_magnitude": "pipeline.passes.prune_magnitude:PruneMagnitude",
}


def available_passes() -> list[str]:
    """Names of the registered passes, sorted."""
    return sorted(PASSES)


def get_pass(name: str) -> type[Pass]:
    """The pass class registered under ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        target = PASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown pass {name!r}; known passes: {', '.join(available_passes())}") from None
    module_name, _, class_name = target.partition(":")
    cls: type[Pass] = getattr(importlib.import_module(module_name), class_name)
    return cls
