"""Which output channels of an ONNX graph must be pruned together, and every edit that removing them needs.

Channel pruning removes output channels of a layer (a Conv's filters, a Gemm's output features) and
must then remove the matching *input* channels of everything that reads them. This module walks the
graph once, in its (topological) node order, and tracks for each tensor its channel **layout**: the
segments of axis 1, each owned by a channel **group**, and a ``spatial`` factor once a Flatten has
spread each channel over ``H * W`` features. A group is one keep-set: the output channels of one
layer, or of several layers merged because an Add (Mul, Sum, ...) adds their outputs elementwise, so
the same channels must go in every branch. A Concat along the channels lays its inputs' segments end
to end, so its readers see the concatenated keep-sets at the right offsets.

Consumers it follows: element-wise and pooling ops (channels pass through), BatchNormalization and
InstanceNormalization (per-channel parameters sliced), a depthwise Conv (its filters and ``group``
sliced), per-channel constants of Add/Mul/PRelu (sliced), Concat, Flatten, a Reshape that flattens,
Squeeze/Unsqueeze of trailing axes, and the next Conv, ConvTranspose, Gemm or MatMul (weights sliced
along their input channels). Anything else that reads a tracked tensor, a graph output, a weight that
is not an initializer, or a shape it cannot check **freezes** the groups involved: they keep every
channel, and the reason is kept for the pass's log line. The graph's inputs and outputs never change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.passes.channel_layout import ChannelGraph, Edit, Layout, Segment, Source

if TYPE_CHECKING:
    import onnx

    from pipeline.onnx_shapes import TensorType

#: Ops applied per element of one tracked input (other inputs are scalars or constants): channels pass.
PASS_THROUGH_OPS = frozenset(
    [
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus",
        "Softsign", "Gelu", "Mish", "Erf", "Exp", "Neg", "Abs", "Sqrt", "Clip", "Identity", "Dropout", "Cast",
        "ThresholdedRelu", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
    ]
)  # fmt: skip
#: Pools keep axis 1 and need no parameter of it.
POOL_OPS = frozenset(["MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
#: Element-wise ops over several inputs that broadcast against each other.
BROADCAST_OPS = frozenset(["Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "PRelu", "Pow"])
#: Per-channel parameter inputs of the normalisations it can slice.
NORM_PARAMS = {"BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2)}
#: Layer types whose output channels may be pruned (the pass's ``op_types`` picks among them).
PRUNABLE_OPS = ("Conv", "ConvTranspose", "Gemm")


def analyse(model: onnx.ModelProto, types: dict[str, TensorType], op_types: list[str]) -> ChannelGraph:
    """Walk ``model`` (with ``types`` from :func:`pipeline.onnx_shapes.infer_tensor_types`) and group its
    prunable channels; layers of ``op_types`` are the candidates."""
    return _Walker(model, types, set(op_types)).run()


class _Walker:
    def __init__(self, model: onnx.ModelProto, types: dict[str, TensorType], op_types: set[str]) -> None:
        from onnx import numpy_helper

        graph = model.graph
        overridable = {value.name for value in graph.input}
        self.weights = {i.name: i for i in graph.initializer if i.name not in overridable}
        self.constants: dict[str, Any] = {name: numpy_helper.to_array(i) for name, i in self.weights.items()}
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants.update(_constant_value(node))
        self.graph, self.types, self.op_types = graph, types, op_types
        self.readers = {n for node in graph.node for n in node.input} | {v.name for v in graph.output}
        self.layouts: dict[str, Layout] = {}
        self.out = ChannelGraph()

    def run(self) -> ChannelGraph:
        for index, node in enumerate(self.graph.node):
            tracked = [self.layouts[n] for n in node.input if n in self.layouts]
            tracked += [self.layouts[n] for n in _subgraph_inputs(node) if n in self.layouts]
            handler = getattr(self, f"_on_{node.op_type}", None)
            if handler is not None:
                handler(index, node)
            elif node.op_type in PASS_THROUGH_OPS or node.op_type in POOL_OPS:
                self._pass_through(node)
            elif node.op_type in BROADCAST_OPS:
                self._broadcast(index, node)
            elif node.op_type in NORM_PARAMS:
                self._norm(index, node)
            elif tracked:
                self._freeze_all(tracked, f"read by {node.op_type} {_label(node)}, which it cannot follow")
        for value in self.graph.output:
            if value.name in self.layouts:
                self.out.freeze(self.layouts[value.name], f"feeds the graph output {value.name!r}")
        return self.out

    # --- the layers whose channels are pruned, and that read pruned channels -------------------------

    def _on_Conv(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight.dims) < 3 or any(name in self.layouts for name in node.input[1:]):
            return self._freeze_inputs(node, f"the weight of {_label(node)} is not an initializer")
        c_out, c_in, group = int(weight.dims[0]), int(weight.dims[1]), _attr(node, "group", 1)
        if group > 1:
            if layout is not None and c_in == 1 and group == c_out == layout.width and layout.spatial == 1:
                self._slice(index, node, 1, 0, layout)  # depthwise: filter c reads channel c only
                if len(node.input) > 2 and node.input[2]:
                    self._param(index, node, 2, layout, rank=1)
                self.out.edits.append(Edit(index, 1, 0, layout, "group"))
                self._set(node.output[0], layout)
            elif layout is not None:
                self.out.freeze(layout, f"read by the grouped Conv {_label(node)} (group={group})")
            return None
        if layout is not None:
            if layout.spatial != 1 or layout.width != c_in:
                return self.out.freeze(layout, f"{_label(node)} reads {c_in} channels, not {layout.width}")
            self._slice(index, node, 1, 1, layout)
        if "Conv" in self.op_types:
            self._source(index, node, c_out, Source(index, 1, 0), bias_rank=1)
        return None

    def _on_ConvTranspose(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight.dims) < 3 or _attr(node, "group", 1) != 1:
            return self._freeze_inputs(node, f"{_label(node)} is grouped or its weight is not an initializer")
        if layout is not None:
            if layout.spatial != 1 or layout.width != int(weight.dims[0]):
                return self.out.freeze(layout, f"{_label(node)} reads {weight.dims[0]} channels")
            self._slice(index, node, 1, 0, layout)
        if "ConvTranspose" in self.op_types and not _attr_ints(node, "output_shape"):
            self._source(index, node, int(weight.dims[1]), Source(index, 1, 1), bias_rank=1)
        return None

    def _on_Gemm(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        weight = self.weights.get(node.input[1]) if len(node.input) > 1 else None
        trans_b = _attr(node, "transB", 0)
        if any(name in self.layouts for name in node.input[1:]) or weight is None or len(weight.dims) != 2:
            return self._freeze_inputs(node, f"{_label(node)} has no constant 2-D weight")
        k_axis = 1 if trans_b else 0
        if layout is not None:
            if _attr(node, "transA", 0) or layout.width != int(weight.dims[k_axis]):
                return self.out.freeze(layout, f"{_label(node)} reads {weight.dims[k_axis]} features")
            self._slice(index, node, 1, k_axis, layout)
        bias = node.input[2] if len(node.input) > 2 else ""
        if "Gemm" in self.op_types and (not bias or bias in self.weights):
            self._source(index, node, int(weight.dims[1 - k_axis]), Source(index, 1, 1 - k_axis), bias_rank=2)
        return None

    def _on_MatMul(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        weight = self.weights.get(node.input[1])
        rank = self._rank(node.input[0])
        if node.input[1] in self.layouts:
            return self._freeze_inputs(node, f"{_label(node)} reads pruned channels as its second operand")
        if layout is None:
            return None
        if weight is None or len(weight.dims) != 2 or rank != 2 or layout.width != int(weight.dims[0]):
            return self.out.freeze(layout, f"{_label(node)} is not a 2-D product with a constant weight")
        self._slice(index, node, 1, 0, layout)
        return None

    def _source(self, index: int, node: onnx.NodeProto, channels: int, source: Source, bias_rank: int) -> None:
        """Start a group for ``node``'s output channels; its bias (input 2) is 1-D for a Conv, a
        broadcast operand of the 2-D output for a Gemm (``bias_rank``)."""
        group = self.out.new_group(channels, source)
        layout = Layout((Segment(group, channels),))
        self._slice(index, node, source.weight, source.axis, layout)
        if len(node.input) > 2 and node.input[2]:
            self._param(index, node, 2, layout, rank=bias_rank)
        self._set(node.output[0], layout)

    # --- ops channels pass through --------------------------------------------------------------------

    def _pass_through(self, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0]) if node.input else None
        others = [self.layouts[n] for n in node.input[1:] if n in self.layouts]
        if layout is None or others or any(name in self.readers for name in node.output[1:]):
            return self._freeze_inputs(node, f"{_label(node)} mixes pruned tensors or uses its second output")
        if node.op_type in POOL_OPS and layout.spatial != 1:
            return self.out.freeze(layout, f"{_label(node)} pools a flattened tensor")
        self._set(node.output[0], layout)
        return None

    def _norm(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        params = NORM_PARAMS[node.op_type]
        if layout is None or any(name in self.layouts for name in node.input[1:]):
            return self._freeze_inputs(node, f"{_label(node)} has pruned parameters")
        if any(name in self.readers for name in node.output[1:]):
            return self.out.freeze(layout, f"{_label(node)} runs in training mode")
        for position in params:
            if position < len(node.input) and not self._param(index, node, position, layout, rank=1):
                return None
        self._set(node.output[0], layout)
        return None

    def _broadcast(self, index: int, node: onnx.NodeProto) -> None:
        tracked = [self.layouts[n] for n in node.input if n in self.layouts]
        if not tracked:
            return None
        rank = self._rank(node.output[0])
        if rank is None:
            return self._freeze_all(tracked, f"{_label(node)} has an output of unknown rank")
        first = tracked[0]
        for layout in tracked[1:]:
            if layout.spatial != first.spatial or [s.size for s in layout.segments] != [s.size for s in first.segments]:
                return self._freeze_all(tracked, f"{_label(node)} combines differently split channels")
        for position, name in enumerate(node.input):
            if name in self.layouts or not name:
                continue
            if name in self.constants:
                if not self._param(index, node, position, first, rank=rank):
                    return self._freeze_all(tracked, f"{_label(node)} has a constant it cannot slice")
            elif not self._broadcasts_over_channels(name, rank):
                return self._freeze_all(tracked, f"{_label(node)} combines them with an unpruned tensor")
        for layout in tracked[1:]:
            for mine, theirs in zip(first.segments, layout.segments, strict=True):
                self._merge(mine, theirs, f"added to channels that are never pruned in {_label(node)}")
        self._set(node.output[0], first)
        return None

    def _on_Concat(self, index: int, node: onnx.NodeProto) -> None:
        tracked = [self.layouts[n] for n in node.input if n in self.layouts]
        if not tracked:
            return None
        rank = self._rank(node.output[0])
        axis = _attr(node, "axis", 0)
        if rank is None or axis % rank != 1:
            return self._broadcast(index, node)  # along another axis: the inputs must match like an Add's
        segments: list[Segment] = []
        for name in node.input:
            layout = self.layouts.get(name)
            if layout is not None and layout.spatial == 1:
                segments.extend(layout.segments)
                continue
            found = self.types.get(name)
            size = found.dims[1] if found is not None and found.dims and len(found.dims) > 1 else None
            if layout is not None or size is None:
                return self._freeze_all(tracked, f"{_label(node)} concatenates a tensor it cannot size")
            segments.append(Segment(None, int(size)))
        self._set(node.output[0], Layout(tuple(segments)))
        return None

    def _on_Flatten(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        found = self.types.get(node.input[0])
        if layout is None:
            return None
        if _attr(node, "axis", 1) != 1 or found is None or not found.known or found.dims is None:
            return self.out.freeze(layout, f"{_label(node)} does not flatten from axis 1 of a known shape")
        spatial = 1
        for d in found.dims[2:]:
            spatial *= int(d)  # type: ignore[arg-type]
        self._set(node.output[0], Layout(layout.segments, layout.spatial * spatial))
        return None

    def _on_Reshape(self, index: int, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        if layout is None:
            return None
        src, dst = self.types.get(node.input[0]), self.types.get(node.output[0])
        target = self.constants.get(node.input[1])
        flat = (  # [N, C, ...] -> [N, C * ...], with a constant target shape
            src is not None and dst is not None and src.known and dst.known and target is not None
            and len(dst.dims or ()) == 2 and len(src.dims or ()) >= 2 and target.size == 2
            and (dst.dims or ())[0] == (src.dims or ())[0]
        )  # fmt: skip
        if not flat:
            return self.out.freeze(layout, f"{_label(node)} reshapes in a way it cannot follow")
        spatial = 1
        for d in (src.dims or ())[2:]:  # type: ignore[union-attr]
            spatial *= int(d)  # type: ignore[arg-type]
        flattened = Layout(layout.segments, layout.spatial * spatial)
        if int(target[1]) > 0:  # a literal width (-1 infers it, 0 copies it)
            self.out.edits.append(Edit(index, 1, 0, flattened, "reshape"))
        self._set(node.output[0], flattened)
        return None

    def _on_Squeeze(self, index: int, node: onnx.NodeProto) -> None:
        self._trailing_axes(node)

    def _on_Unsqueeze(self, index: int, node: onnx.NodeProto) -> None:
        self._trailing_axes(node)

    def _trailing_axes(self, node: onnx.NodeProto) -> None:
        layout = self.layouts.get(node.input[0])
        if layout is None:
            return
        axes = _attr_ints(node, "axes")
        if len(node.input) > 1 and node.input[1]:
            value = self.constants.get(node.input[1])
            axes = None if value is None else [int(a) for a in value.reshape(-1)]
        rank = self._rank(node.output[0] if node.op_type == "Unsqueeze" else node.input[0])
        if not axes or rank is None or layout.spatial != 1 or any(a % rank < 2 for a in axes):
            return self.out.freeze(layout, f"{_label(node)} may move the channel axis")
        self._set(node.output[0], layout)

    # --- helpers ------------------------------------------------------------------------------------

    def _param(self, index: int, node: onnx.NodeProto, position: int, layout: Layout, rank: int | None) -> bool:
        """Slice a per-channel constant input (bias, scale, per-channel operand); False if it cannot be."""
        name = node.input[position]
        value = self.constants.get(name)
        if value is None or name not in self.weights:
            self.out.freeze(layout, f"the parameter {name!r} of {_label(node)} is not an initializer")
            return False
        rank = value.ndim if rank is None else rank
        axis = 0 if rank == 1 else 1 - (rank - value.ndim)  # numpy broadcasting aligns trailing axes
        if axis < 0 or axis >= value.ndim or value.shape[axis] == 1:
            return True  # broadcast over the channels: nothing to slice
        if value.shape[axis] != layout.width:
            self.out.freeze(layout, f"the parameter {name!r} of {_label(node)} has {value.shape[axis]} channels")
            return False
        self._slice(index, node, position, axis, layout)
        return True

    def _slice(self, index: int, node: onnx.NodeProto, position: int, axis: int, layout: Layout) -> None:
        self.out.edits.append(Edit(index, position, axis, layout))

    def _broadcasts_over_channels(self, name: str, rank: int | None) -> bool:
        found = self.types.get(name)
        if found is None or found.dims is None or rank is None:
            return False
        axis = 1 - (rank - len(found.dims))
        return axis < 0 or found.dims[axis] == 1

    def _merge(self, mine: Segment, theirs: Segment, reason: str) -> None:
        if mine.group is not None and theirs.group is not None:
            self.out.merge(mine.group, theirs.group)
        elif mine.group is not None or theirs.group is not None:
            self.out.freeze(Layout((mine, theirs)), reason)

    def _set(self, name: str, layout: Layout) -> None:
        self.layouts[name] = layout

    def _rank(self, name: str) -> int | None:
        found = self.types.get(name)
        return None if found is None or found.dims is None else len(found.dims)

    def _freeze_inputs(self, node: onnx.NodeProto, reason: str) -> None:
        self._freeze_all([self.layouts[n] for n in node.input if n in self.layouts], reason)

    def _freeze_all(self, layouts: list[Layout], reason: str) -> None:
        for layout in layouts:
            self.out.freeze(layout, reason)


def _label(node: onnx.NodeProto) -> str:
    return repr(node.name or (node.output[0] if node.output else node.op_type))


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def _attr_ints(node: onnx.NodeProto, name: str) -> list[int]:
    return next(([int(v) for v in a.ints] for a in node.attribute if a.name == name), [])


def _constant_value(node: onnx.NodeProto) -> dict[str, Any]:
    from onnx import numpy_helper

    for attr in node.attribute:
        if attr.name == "value" and attr.HasField("t"):
            return {node.output[0]: numpy_helper.to_array(attr.t)}
    return {}


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Every tensor name read inside ``node``'s subgraphs (If/Loop/Scan bodies read outer tensors)."""
    names: set[str] = set()
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            for inner in graph.node:
                names.update(inner.input)
                names |= _subgraph_inputs(inner)
    return names
