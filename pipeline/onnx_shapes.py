"""Every tensor's shape and element type in an ONNX graph at one batch size, from ONNX shape inference.

The graph-cost counter and the channel-pruning pass both need to know, for a tensor name, its
dimensions (to count work, to follow a Flatten) and its element type (to count bytes). ONNX shape
inference gives them once the graph inputs' batch dimension is bound to a number; this module binds
it on a copy of the model (the caller's model is never edited) and reads the result into one dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

#: One dimension: an int when known, None when symbolic or unknown.
Dims = tuple[int | None, ...]


@dataclass(frozen=True)
class TensorType:
    """What shape inference knows about one tensor: its ONNX element type and dimensions."""

    elem_type: int
    """``onnx.TensorProto`` data type (1 = FLOAT); 0 when unknown."""
    dims: Dims | None
    """None when not even the rank is known."""

    @property
    def known(self) -> bool:
        """True when every dimension is a known number."""
        return self.dims is not None and all(d is not None for d in self.dims)

    def size(self) -> int | None:
        """Number of elements; None unless every dimension is known."""
        if not self.known:
            return None
        total = 1
        for d in self.dims or ():
            total *= int(d)  # type: ignore[arg-type]
        return total


def bind_batch(model: onnx.ModelProto, batch: int | None) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have first dimension ``batch``.

    Only inputs that are not initializers are bound. A symbolic (or missing) first dimension becomes
    ``batch``; a fixed one must already equal it, else ValueError (a model exported at a fixed batch
    size cannot run at another). ``batch`` None takes the model as it is: fixed first dimensions stay,
    symbolic ones become 1. Initializers are copied too: shape inference reads the small ones
    (a Reshape's target shape), and edge models are small enough for the copy not to matter.
    """
    import onnx

    if batch is not None and batch < 1:
        raise ValueError(f"batch must be 1 or more, not {batch}")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    initializers = {init.name for init in copy.graph.initializer}
    for value in copy.graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        if not value.type.tensor_type.HasField("shape") or len(shape.dim) == 0:
            continue  # a scalar input has no batch dimension
        first = shape.dim[0]
        if first.HasField("dim_value") and first.dim_value > 0:
            if batch is not None and first.dim_value != batch:
                raise ValueError(
                    f"input {value.name!r} has a fixed first dimension of {first.dim_value}, so the model "
                    f"cannot run at batch {batch}: export it with a dynamic batch dimension, or use "
                    f"batch {first.dim_value}"
                )
            continue
        first.Clear()
        first.dim_value = 1 if batch is None else batch
    return copy


def infer_tensor_types(model: onnx.ModelProto, batch: int | None = 1) -> dict[str, TensorType]:
    """name -> :class:`TensorType` for every graph input, output, intermediate tensor and initializer,
    with the graph inputs' batch dimension bound by :func:`bind_batch`.

    Shape inference that fails outright leaves only what the graph declares (its inputs, outputs,
    initializers and any ``value_info`` it carries); callers see unknown shapes, never an exception.
    """
    import onnx

    bound = bind_batch(model, batch)
    try:
        inferred = onnx.shape_inference.infer_shapes(bound, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # an op shape inference does not know, a model over 2 GiB, ...
        inferred = bound
    types: dict[str, TensorType] = {}
    graph = inferred.graph
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        types[value.name] = _tensor_type(value)
    for init in graph.initializer:
        types[init.name] = TensorType(int(init.data_type), tuple(int(d) for d in init.dims))
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    types[node.output[0]] = TensorType(int(attr.t.data_type), tuple(int(d) for d in attr.t.dims))
    return types


def _tensor_type(value: onnx.ValueInfoProto) -> TensorType:
    if not value.type.HasField("tensor_type"):
        return TensorType(0, None)
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return TensorType(int(tensor.elem_type), None)
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)
    return TensorType(int(tensor.elem_type), dims)
