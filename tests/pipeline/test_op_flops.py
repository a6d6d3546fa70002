"""pipeline.op_flops: the per-node counting rules."""

from __future__ import annotations

import onnx
import pytest
from onnx import helper

from pipeline.onnx_shapes import TensorType
from pipeline.op_flops import NodeWork, has_rule, node_work

FLOAT = 1


def _types(**dims: tuple[int | None, ...]) -> dict[str, TensorType]:
    return {name: TensorType(FLOAT, shape) for name, shape in dims.items()}


def test_conv_transpose_counts_each_input_times_its_filters() -> None:
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2])
    types = _types(x=(1, 8, 4, 4), w=(8, 3, 2, 2), y=(1, 3, 8, 8), b=(3,))

    work = node_work(node, types.get)

    assert work == NodeWork(macs=8 * 16 * 3 * 4, flops=2 * 8 * 16 * 3 * 4 + 3 * 64)


def test_gemm_with_transposed_a_reads_k_from_its_first_axis() -> None:
    node = helper.make_node("Gemm", ["a", "b"], ["y"], transA=1)
    types = _types(a=(24, 2), b=(24, 64), y=(2, 64))

    assert node_work(node, types.get) == NodeWork(macs=2 * 24 * 64, flops=2 * 2 * 24 * 64)


@pytest.mark.parametrize(
    ("node", "flops"),
    [
        (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3]), 4 * 6 * 6 * 9),
        (helper.make_node("Sigmoid", ["x"], ["y"]), 4 * 4 * 8 * 8),
        (helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]), 2 * 4 * 8 * 8),
        (helper.make_node("Sum", ["x", "x", "x"], ["y"]), 2 * 4 * 8 * 8),
        (helper.make_node("Reshape", ["x", "s"], ["y"]), 0),
    ],
)
def test_element_wise_pooling_and_movement_costs(node: onnx.NodeProto, flops: int) -> None:
    out = (1, 4, 6, 6) if node.op_type == "MaxPool" else (1, 4, 8, 8)
    types = _types(x=(1, 4, 8, 8), y=out)

    assert node_work(node, types.get) == NodeWork(0, flops)


def test_unknown_shape_or_op_gives_none() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"])

    assert node_work(conv, _types(x=(1, 4, 8, 8), w=(6, 4, 3, 3), y=(1, 6, None, 8)).get) is None
    assert not has_rule("LRN") and node_work(helper.make_node("LRN", ["x"], ["y"], size=3), _types().get) is None
