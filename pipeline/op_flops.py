"""FLOPs and multiply-adds of one ONNX node, from its tensors' shapes: the rules the graph cost counts by.

A multiply-add counts 2 FLOPs (the convention of MLPerf and of NVIDIA's peak figures, so that a
count divided by a peak gives a time). The rules, per node:

- Conv, ConvInteger, QLinearConv: ``N * C_out * spatial_out * (C_in / group) * kernel`` multiply-adds
  (the weight's dims after the first already hold ``C_in / group``), plus 1 FLOP per output for a bias;
  ConvTranspose: every input element times its ``C_out / group * kernel`` weights.
- Gemm: ``M * K * N`` multiply-adds plus 1 FLOP per output for C (alpha and beta are not counted);
  MatMul, MatMulInteger, QLinearMatMul: ``prod(output) * K``.
- Element-wise, normalisation, softmax, pooling and reduction ops: a stated small number of FLOPs per
  output (or input) element, one per arithmetic step of a straightforward implementation, with a
  transcendental function (exp, erf, tanh) counted as one step; see the tables below.
- Data-movement ops (Reshape, Transpose, Concat, Gather, Cast, ...) do no arithmetic: 0 FLOPs.

Any other op has no rule: the caller lists it as uncounted rather than guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from pipeline.onnx_shapes import TensorType

if TYPE_CHECKING:
    import onnx

#: FLOPs per output element. Variadic ops (Sum, Max, Min, Mean) are handled apart.
ELEMENTWISE_FLOPS: dict[str, int] = {
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Pow", "Mod", "Neg", "Abs", "Sqrt", "Reciprocal"], 1),
    **dict.fromkeys(["Exp", "Log", "Erf", "Tanh", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign"], 1),
    **dict.fromkeys(["Relu", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where", "Not"], 1),
    **dict.fromkeys(["And", "Or", "Xor", "BitShift", "IsNaN", "IsInf"], 1),
    "LeakyRelu": 2,  # compare, multiply
    "PRelu": 2,
    "Clip": 2,  # max, min
    "ThresholdedRelu": 2,
    "Elu": 3,  # compare, exp, multiply-subtract
    "Celu": 3,
    "Softplus": 3,  # exp, add, log
    "Sigmoid": 4,  # negate, exp, add, divide
    "HardSigmoid": 4,  # multiply, add, max, min
    "Selu": 4,
    "Softsign": 3,  # abs, add, divide
    "HardSwish": 5,  # HardSigmoid, multiply
    "Gelu": 5,  # divide, erf, add, multiply, multiply
    "Mish": 5,  # softplus, tanh, multiply
    "QuantizeLinear": 3,  # divide, round, add the zero point (the clamp is free in the store)
    "DequantizeLinear": 2,  # subtract the zero point, multiply by the scale
    "DynamicQuantizeLinear": 4,  # as QuantizeLinear, after a min/max pass
}

#: FLOPs per element of the (first) input for normalisations and softmax.
PER_INPUT_ELEMENT_FLOPS: dict[str, int] = {
    "BatchNormalization": 2,  # inference: scale and shift (runtimes usually fold it into the Conv)
    "InstanceNormalization": 8,  # mean, variance (3), normalise (2), scale and shift (2)
    "LayerNormalization": 8,
    "GroupNormalization": 8,
    "LpNormalization": 3,  # square, sum, divide
    "MeanVarianceNormalization": 6,
    "Softmax": 5,  # max, subtract, exp, sum, divide
    "LogSoftmax": 5,  # max, subtract, exp, sum, log-subtract
    "Hardmax": 1,
    "GlobalAveragePool": 1,
    "GlobalMaxPool": 1,
    "GlobalLpPool": 2,
    **dict.fromkeys(["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin"], 1),
    **dict.fromkeys(["ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceLogSum"], 2),
    "CumSum": 1,
    "TopK": 1,
}

#: Ops that only move, copy or reinterpret data: 0 FLOPs.
DATA_MOVEMENT_OPS = frozenset(
    [
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Gather",
        "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Identity", "Dropout", "Shape", "Size",
        "Cast", "CastLike", "Pad", "Expand", "Tile", "Constant", "ConstantOfShape", "DepthToSpace",
        "SpaceToDepth", "Range", "NonZero", "OneHot", "EyeLike", "Trilu", "ReverseSequence",
    ]
)  # fmt: skip

#: Pools whose cost is one step per kernel element per output.
WINDOW_POOLS = frozenset(["MaxPool", "AveragePool", "LpPool"])

CONV_OPS = {"Conv": (0, 1, 2), "ConvInteger": (0, 1, None), "QLinearConv": (0, 3, 8)}  # data, weight, bias
MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}  # a, b

#: What a node has to say about its shapes: its inputs' and outputs' types by name.
TypeOf = Callable[[str], TensorType | None]


@dataclass(frozen=True)
class NodeWork:
    """Work of one node for one query: ``flops`` includes ``2 * macs``."""

    macs: int
    flops: int


def has_rule(op_type: str) -> bool:
    """True when :func:`node_work` knows how to count ``op_type``."""
    return (
        op_type in CONV_OPS
        or op_type in MATMUL_OPS
        or op_type in ("ConvTranspose", "Gemm", "Sum", "Max", "Min", "Mean")
        or op_type in ELEMENTWISE_FLOPS
        or op_type in PER_INPUT_ELEMENT_FLOPS
        or op_type in DATA_MOVEMENT_OPS
        or op_type in WINDOW_POOLS
    )


def node_work(node: onnx.NodeProto, type_of: TypeOf) -> NodeWork | None:
    """The node's work, or None when a shape it needs is unknown (or it has no rule, see :func:`has_rule`)."""
    op = node.op_type
    if op in DATA_MOVEMENT_OPS:
        return NodeWork(0, 0)
    if op in CONV_OPS:
        return _conv(node, type_of, *CONV_OPS[op])
    if op == "ConvTranspose":
        return _conv_transpose(node, type_of)
    if op == "Gemm":
        return _gemm(node, type_of)
    if op in MATMUL_OPS:
        return _matmul(node, type_of, *MATMUL_OPS[op])
    if op in ELEMENTWISE_FLOPS:
        out = _size(type_of, _input(node, 0) if op == "DynamicQuantizeLinear" else _output(node))
        return None if out is None else NodeWork(0, ELEMENTWISE_FLOPS[op] * out)
    if op in ("Sum", "Max", "Min", "Mean"):
        out = _size(type_of, _output(node))
        steps = max(len([name for name in node.input if name]) - 1, 0) + (1 if op == "Mean" else 0)
        return None if out is None else NodeWork(0, steps * out)
    if op in PER_INPUT_ELEMENT_FLOPS:
        size = _size(type_of, _input(node, 0))
        return None if size is None else NodeWork(0, PER_INPUT_ELEMENT_FLOPS[op] * size)
    if op in WINDOW_POOLS:
        out = _size(type_of, _output(node))
        kernel = _ints(node, "kernel_shape")
        if out is None or not kernel:
            return None
        return NodeWork(0, out * prod(kernel) * (2 if op == "LpPool" else 1))
    return None


def _conv(node: onnx.NodeProto, type_of: TypeOf, data: int, weight: int, bias: int | None) -> NodeWork | None:
    out, w = _dims(type_of, _output(node)), _dims(type_of, _input(node, weight))
    if out is None or w is None or len(w) < 2:
        return None
    outputs = prod(out)
    macs = outputs * prod(w[1:])
    bias_flops = outputs if bias is not None and _input(node, bias) else 0
    return NodeWork(macs, 2 * macs + bias_flops)


def _conv_transpose(node: onnx.NodeProto, type_of: TypeOf) -> NodeWork | None:
    x, w, out = _dims(type_of, _input(node, 0)), _dims(type_of, _input(node, 1)), _dims(type_of, _output(node))
    if x is None or w is None or out is None or len(w) < 2:
        return None
    macs = prod(x) * prod(w[1:])
    bias_flops = prod(out) if _input(node, 2) else 0
    return NodeWork(macs, 2 * macs + bias_flops)


def _gemm(node: onnx.NodeProto, type_of: TypeOf) -> NodeWork | None:
    a, out = _dims(type_of, _input(node, 0)), _dims(type_of, _output(node))
    if a is None or out is None or len(a) != 2:
        return None
    k = a[0] if _int(node, "transA") else a[1]
    macs = prod(out) * k
    bias_flops = prod(out) if _input(node, 2) else 0
    return NodeWork(macs, 2 * macs + bias_flops)


def _matmul(node: onnx.NodeProto, type_of: TypeOf, a_index: int, b_index: int) -> NodeWork | None:
    a, out = _dims(type_of, _input(node, a_index)), _dims(type_of, _output(node))
    if a is None or out is None or not a:
        return None
    macs = prod(out) * a[-1]
    return NodeWork(macs, 2 * macs)


def _input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if index < len(node.input) else ""


def _output(node: onnx.NodeProto) -> str:
    return node.output[0] if node.output else ""


def _dims(type_of: TypeOf, name: str) -> tuple[int, ...] | None:
    found = type_of(name) if name else None
    if found is None or not found.known:
        return None
    return tuple(int(d) for d in found.dims or ())  # type: ignore[arg-type]


def _size(type_of: TypeOf, name: str) -> int | None:
    dims = _dims(type_of, name)
    return None if dims is None else prod(dims)


def _ints(node: onnx.NodeProto, name: str) -> list[int]:
    for attr in node.attribute:
        if attr.name == name:
            return [int(v) for v in attr.ints]
    return []


def _int(node: onnx.NodeProto, name: str, default: int = 0) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default
