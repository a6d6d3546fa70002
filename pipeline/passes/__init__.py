"""Optimisation passes: each turns one artifact into another (upgraded, quantized, pruned, exported).

A pass is one module here with one :class:`~pipeline.passes.base.Pass` subclass, registered by one
line in :data:`PASSES` (or ``PASSES.register`` from a plug-in). Modules are imported only when
:func:`get_pass` asks for them, so listing the passes costs nothing and a pass's heavy dependencies
load only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.registry import Registry
from pipeline.passes.base import BuildFiles, PassContext

if TYPE_CHECKING:
    from pipeline.passes.base import Pass

__all__ = ["PASSES", "BuildFiles", "PassContext", "available_passes", "declared_passes", "get_pass"]

#: Registry: pass name -> "module:Class".
PASSES = Registry(
    "pass",
    {
        "opset_upgrade": "pipeline.passes.opset_upgrade:OpsetUpgrade",
        "quantize_static": "pipeline.passes.quantize_static:QuantizeStatic",
        "quantize_dynamic": "pipeline.passes.quantize_dynamic:QuantizeDynamic",
        "fp16": "pipeline.passes.fp16:ConvertFP16",
        "prune_magnitude": "pipeline.passes.prune_magnitude:PruneMagnitude",
        "prune_channels": "pipeline.passes.prune_channels:PruneChannels",
        "prune_2to4": "pipeline.passes.prune_2to4:Prune2to4",
        "ov_export_fp32": "pipeline.passes.ov_convert:OVExportFP32",
        "ov_compress_fp16": "pipeline.passes.ov_convert:OVCompressFP16",
        "nncf_quantize": "pipeline.passes.nncf_quantize:NNCFQuantize",
        "trt_qdq": "pipeline.passes.trt_recipe:TRTQDQ",
        "trt_recipe": "pipeline.passes.trt_recipe:TRTRecipe",
    },
    ValueError,
)


def available_passes() -> list[str]:
    """Names of the registered passes, sorted."""
    return sorted(PASSES)


def get_pass(name: str) -> type[Pass]:
    """The pass class registered under ``name``; an unknown name is a ValueError listing the known ones."""
    return PASSES.get(name)


def declared_passes() -> dict[str, type[Pass]]:
    """name -> class for every registered pass (importing a pass module loads no vendor package)."""
    return {name: get_pass(name) for name in PASSES}
