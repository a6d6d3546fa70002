"""Structured channel pruning: remove whole output channels so that the graph really gets smaller.

Unlike :mod:`pipeline.passes.prune_magnitude`, which leaves zeros a dense kernel multiplies anyway,
this pass deletes the least important output channels of each Conv (and Gemm output features) and the
matching input channels of every reader, so the output model does fewer FLOPs on smaller tensors on
*every* runtime. Which channels must go together, and what must be sliced, comes from
:mod:`pipeline.passes.channel_groups`: channels added together by a residual Add form one group with
one keep-set, a Concat's readers see the concatenated keep-sets, and layers it cannot follow safely
keep all their channels (listed in the log line).

Importance of a channel is the L1 norm of its filter, divided by the layer's mean filter norm so that
every layer of a merged group weighs the same, summed over the group's layers. Each group keeps
``(1 - ratio) * channels`` rounded to the nearest multiple of ``round_to``, never fewer than
``min_channels``. Pruning without fine-tuning costs accuracy: measure it (the sweep does) before
trusting a ratio. A stale ``edgeprof.flops_per_inference`` metadata entry is dropped from the output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pydantic

from pipeline.onnx_shapes import infer_tensor_types
from pipeline.passes.base import Pass, PassContext, atomic_output, first_line, load_model, save_model
from pipeline.passes.channel_groups import PRUNABLE_OPS, analyse
from pipeline.passes.channel_layout import ChannelGraph, Layout

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

#: Metadata that describes the input model's work, wrong once channels are gone.
STALE_METADATA = ("edgeprof.flops_per_inference",)


@dataclass(frozen=True)
class GroupDecision:
    """What happened to one channel group: who owns it, channels before and after, and why."""

    label: str
    """The group's layers, e.g. ``'conv1'`` or ``'conv2' + 'skip'``."""
    channels: int
    kept: int
    reason: str = ""
    """Why nothing was removed; empty when the group was pruned."""


class PruneChannels(Pass):
    """Remove the lowest-L1 output channels of Conv/Gemm layers and the matching inputs of their readers."""

    name: ClassVar[str] = "prune_channels"
    summary: ClassVar[str] = "remove whole channels (structured): a smaller graph, faster on every runtime"
    sparsity: ClassVar[str | None] = "structured"
    prune_name: ClassVar[str | None] = "channels"
    prune_amount: ClassVar[str | None] = "ratio"
    provides: ClassVar[str | None] = None

    class Config(Pass.Config):
        ratio: float = pydantic.Field(
            0.3, gt=0.0, lt=1.0, description="Fraction of each layer's output channels to remove (before rounding)."
        )
        min_channels: int = pydantic.Field(
            8, ge=1, description="Never keep fewer output channels than this in a layer; smaller layers stay whole."
        )
        op_types: list[str] = pydantic.Field(
            default_factory=lambda: ["Conv", "Gemm"],
            min_length=1,
            description=f"Layer types whose output channels are pruned, among {', '.join(PRUNABLE_OPS)}.",
        )
        round_to: int = pydantic.Field(
            1, ge=1, description="Keep channel counts a multiple of this (e.g. 8 for vector kernels); 1: exact."
        )

        @pydantic.field_validator("op_types")
        @classmethod
        def _known_op_types(cls, value: list[str]) -> list[str]:
            unknown = sorted(set(value) - set(PRUNABLE_OPS))
            if unknown:
                raise ValueError(f"cannot prune the channels of {', '.join(unknown)}: choose among {PRUNABLE_OPS}")
            return value

    config: Config

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        model = load_model(self, model_path)
        checkable = _infers_strictly(model)
        decisions = prune_model(model, self.config)
        pruned = [d for d in decisions if not d.reason]
        intact = [d for d in decisions if d.reason]
        if not pruned:
            layers = " or ".join(self.config.op_types)
            reasons = "; ".join(f"{d.label}: {d.reason}" for d in intact) or (
                f"no {layers} layer has its weight as an initializer; a quantized model's weights come out of "
                "DequantizeLinear nodes: prune before quantizing"
            )
            raise self.fail(f"no channel could be removed ({reasons})")
        logger.info(
            "%s: pruned %d of %d channel groups (%d -> %d channels); left intact: %s",
            self.name,
            len(pruned),
            len(decisions),
            sum(d.channels for d in pruned),
            sum(d.kept for d in pruned),
            "; ".join(f"{d.label} ({d.reason})" for d in intact) or "none",
        )
        if checkable:
            _check(self, model)
        with atomic_output(out_path) as tmp:
            save_model(self, model, tmp)


def prune_model(model: onnx.ModelProto, config: PruneChannels.Config) -> list[GroupDecision]:
    """Prune ``model`` in place by ``config``; one decision per channel group, in graph order."""
    graph = analyse(model, infer_tensor_types(model, batch=None), config.op_types)
    weights = {init.name: init for init in model.graph.initializer}
    keeps: dict[int, np.ndarray] = {}
    decisions: list[GroupDecision] = []
    for root in graph.roots():
        group = graph.groups[root]
        label = " + ".join(dict.fromkeys(_node_label(model, s.node) for s in group.sources))
        if group.frozen:
            decisions.append(GroupDecision(label, group.size, group.size, group.frozen[0]))
            continue
        kept = kept_count(group.size, config)
        if kept >= group.size:
            reason = (
                f"{group.size} channels: none to remove at ratio {config.ratio} with "
                f"min_channels={config.min_channels}, round_to={config.round_to}"
            )
            decisions.append(GroupDecision(label, group.size, group.size, reason))
            continue
        importance = np.zeros(group.size)
        for source in group.sources:
            node = model.graph.node[source.node]
            importance += channel_importance(_array(weights[node.input[source.weight]]), source.axis)
        keeps[root] = np.sort(np.argsort(-importance, kind="stable")[:kept])
        decisions.append(GroupDecision(label, group.size, kept))
    if keeps:
        apply_edits(model, graph, keeps)
    return decisions


def kept_count(channels: int, config: PruneChannels.Config) -> int:
    """Channels a group of ``channels`` keeps: ``(1 - ratio)`` of them, to the nearest ``round_to``
    (halves round up), at least ``min_channels`` and ``round_to``, at most all of them."""
    target = channels * (1.0 - config.ratio) / config.round_to
    kept = int(np.floor(target + 0.5)) * config.round_to
    return min(channels, max(kept, config.min_channels, config.round_to))


def channel_importance(weight: np.ndarray, axis: int) -> np.ndarray:
    """L1 norm of each slice of ``weight`` along ``axis``, divided by their mean (all ones if all zero)."""
    norms = np.abs(weight.astype(np.float64)).sum(axis=tuple(a for a in range(weight.ndim) if a != axis))
    mean = float(norms.mean())
    return norms / mean if mean > 0 else np.ones_like(norms)


def layout_indices(graph: ChannelGraph, layout: Layout, keeps: dict[int, np.ndarray]) -> np.ndarray:
    """Indices along axis 1 that survive in a tensor of ``layout``."""
    parts: list[np.ndarray] = []
    offset = 0
    for segment in layout.segments:
        kept = keeps.get(graph.root(segment.group)) if segment.group is not None else None
        parts.append(offset + (np.arange(segment.size) if kept is None else kept))
        offset += segment.size
    channels = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if layout.spatial == 1:
        return channels
    return (channels[:, None] * layout.spatial + np.arange(layout.spatial)[None, :]).reshape(-1)


def apply_edits(model: onnx.ModelProto, graph: ChannelGraph, keeps: dict[int, np.ndarray]) -> None:
    """Slice every initializer and attribute ``graph.edits`` names to the keep-sets in ``keeps``."""
    from onnx import helper, numpy_helper

    nodes = model.graph.node
    initializers = {init.name: init for init in model.graph.initializer}
    constants = {n.output[0]: n for n in nodes if n.op_type == "Constant" and n.output}
    uses: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    arrays: dict[tuple[int, int], np.ndarray] = {}
    for edit in graph.edits:
        indices = layout_indices(graph, edit.layout, keeps)
        if len(indices) == edit.layout.width:
            continue  # nothing removed here
        node = nodes[edit.node]
        if edit.kind == "group":
            for attr in node.attribute:
                if attr.name == "group":
                    attr.i = len(indices)
            continue
        key = (edit.node, edit.input)
        if key not in arrays:
            name = node.input[edit.input]
            if name in initializers:
                arrays[key] = numpy_helper.to_array(initializers[name])
            else:  # a Reshape's target shape held by a Constant node
                arrays[key] = next(numpy_helper.to_array(a.t) for a in constants[name].attribute if a.name == "value")
        if edit.kind == "reshape":
            target = arrays[key].copy()
            target[1] = len(indices)
            arrays[key] = target
        else:
            arrays[key] = np.take(arrays[key], indices, axis=edit.axis)
    for (index, position), array in arrays.items():
        node = nodes[index]
        name = node.input[position]
        if name in initializers and uses[name] == 1:
            initializers[name].CopyFrom(numpy_helper.from_array(array, name))
            continue
        fresh = _fresh_name(f"{name}.pruned", initializers)
        initializers[fresh] = model.graph.initializer.add()
        initializers[fresh].CopyFrom(numpy_helper.from_array(array, fresh))
        node.input[position] = fresh
    _drop_unused(model)
    del model.graph.value_info[:]  # intermediate shapes changed; inference recomputes them
    kept_meta = [(p.key, p.value) for p in model.metadata_props if p.key not in STALE_METADATA]
    del model.metadata_props[:]
    helper.set_model_props(model, dict(kept_meta))


def _drop_unused(model: onnx.ModelProto) -> None:
    """Remove initializers and Constant nodes that pruning left without readers."""
    read = {name for node in model.graph.node for name in node.input} | {v.name for v in model.graph.output}
    keep_nodes = [n for n in model.graph.node if n.op_type != "Constant" or n.output[0] in read]
    if len(keep_nodes) != len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(keep_nodes)
    inputs = {v.name for v in model.graph.input}
    keep_inits = [i for i in model.graph.initializer if i.name in read or i.name in inputs]
    if len(keep_inits) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep_inits)


def _infers_strictly(model: onnx.ModelProto) -> bool:
    """True when strict ONNX shape inference accepts ``model`` (custom-domain ops make it refuse)."""
    import onnx

    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception:
        return False
    return True


def _check(pass_: Pass, model: onnx.ModelProto) -> None:
    """The pruned graph must still type-check end to end (the input did): anything else is a bug here."""
    import onnx

    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        raise pass_.fail(f"pruning left an inconsistent graph (a bug of this pass): {first_line(exc)}") from exc


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


def _node_label(model: onnx.ModelProto, index: int) -> str:
    node = model.graph.node[index]
    return repr(node.name or node.output[0])


def _fresh_name(base: str, taken: dict[str, object]) -> str:
    name, count = base, 1
    while name in taken:
        count += 1
        name = f"{base}{count}"
    return name
