"""pipeline.graph_cost: FLOPs, weight bytes and activation bytes per query of an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.demo_model import DEMO_MODEL_PATH
from pipeline.graph_cost import graph_cost
from pipeline.passes import PassContext
from pipeline.passes.prune_channels import PruneChannels
from pipeline.passes.prune_magnitude import PruneMagnitude
from pipeline.passes.quantize_static import QuantizeStatic

from .passes.models import MNIST_MODEL, build_mlp, build_tiny_cnn, save, tiny_inputs


def _conv_model(path: Path, *, group: int = 1, tail: str | None = None) -> Path:
    """input [batch, 4, 8, 8] -> Conv (W [6, 4 / group, 3, 3], bias, pads 1) -> [batch, 6, 8, 8] (-> ``tail``)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(6, 4 // group, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(6, np.float32), "b"),
    ]
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["y"], pads=[1, 1, 1, 1], group=group)]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6, 8, 8])
    if tail is not None:
        nodes.append(helper.make_node(tail, ["y"], ["z"], axis=1))
        shape = ["batch", 384] if tail == "Flatten" else ["batch", 6, 8, 8]
        out = helper.make_tensor_value_info("z", TensorProto.FLOAT, shape)
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 8, 8])], [out], inits
    )
    return save(graph, path)


@pytest.mark.parametrize(("group", "batch"), [(1, 1), (1, 3), (2, 1)])
def test_conv_flops_by_hand(group: int, batch: int, tmp_path: Path) -> None:
    cost = graph_cost(_conv_model(tmp_path / "conv.onnx", group=group), batch=batch)

    outputs = batch * 6 * 8 * 8  # [batch, 6, 8, 8]
    macs = outputs * (4 // group) * 3 * 3  # each output: C_in / group x 3 x 3 multiply-adds
    assert cost.macs == macs
    assert cost.flops == 2 * macs + outputs  # + one add per output for the bias
    assert cost.counted_ops == {"Conv": 1} and cost.uncounted_ops == {} and cost.shapes_known
    assert cost.activation_bytes == outputs * 4  # the float32 output, written once
    assert cost.weight_bytes == {"float32": (6 * (4 // group) * 9 + 6) * 4}
    assert cost.flops_per_sample == cost.flops / batch


def test_gemm_and_matmul_flops_by_hand(tmp_path: Path) -> None:
    cost = graph_cost(build_mlp(tmp_path / "mlp.onnx"), batch=2)

    # fc1 Gemm [2, 24] x [24, 64] + bias; fc2 MatMul [2, 64] x [64, 32]; Add bias; fc3 Gemm [2, 32] x [32, 10] + bias
    assert cost.macs == 2 * (24 * 64 + 64 * 32 + 32 * 10)
    assert cost.flops_by_op["Gemm"] == 2 * 2 * (24 * 64 + 32 * 10) + 2 * (64 + 10)
    assert cost.flops_by_op["MatMul"] == 2 * 2 * 64 * 32
    assert cost.flops_by_op["Add"] == 2 * 32 and cost.flops_by_op["Relu"] == 2 * (64 + 32)
    assert cost.flops == sum(cost.flops_by_op.values())


def test_qdq_weights_count_at_their_integer_size_and_their_dequantize_is_folded(tmp_path: Path) -> None:
    # setup: a hand-built QDQ Conv: int8 weight [16, 8, 3, 3] with per-channel float scales, a quarter at zero point
    rng = np.random.default_rng(0)
    zero_point = np.arange(16, dtype=np.int8) - 8
    q = rng.integers(-100, 100, size=(16, 8, 3, 3)).astype(np.int8)
    q[:4] = zero_point[:4, None, None, None]  # four output channels entirely at their zero point
    inits = [
        numpy_helper.from_array(q, "w.q"),
        numpy_helper.from_array(np.full(16, 0.01, np.float32), "w.scale"),
        numpy_helper.from_array(zero_point, "w.zp"),
        numpy_helper.from_array(np.float32(0.05), "x.scale"),
        numpy_helper.from_array(np.uint8(128), "x.zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x.scale", "x.zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x.scale", "x.zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w.q", "w.scale", "w.zp"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])],
        inits,
    )
    path = save(graph, tmp_path / "qdq.onnx")

    # execute
    cost = graph_cost(path)

    # assert
    assert cost.weight_bytes == {"int8": 1152 + 16, "float32": 16 * 4 + 4, "uint8": 1}
    assert cost.folded_nodes == 1  # the weight's DequantizeLinear runs once, before the first query
    assert cost.counted_ops == {"QuantizeLinear": 1, "DequantizeLinear": 1, "Conv": 1}
    assert cost.macs == 16 * 64 * 8 * 9
    assert cost.flops_by_op["QuantizeLinear"] == 3 * 512 and cost.flops_by_op["DequantizeLinear"] == 2 * 512
    assert cost.zero_weight_fraction == pytest.approx(0.25, abs=0.01)  # plus the few random hits of a zero point
    assert cost.activation_bytes == 512 * 1 + 512 * 4 + 1024 * 4  # xq (uint8), xd, y; the folded w is a weight


def test_static_int8_build_stores_its_weights_in_a_quarter_of_the_bytes(tmp_path: Path) -> None:
    source = build_tiny_cnn(tmp_path / "tiny.onnx")
    out = tmp_path / "int8.onnx"

    QuantizeStatic({"preprocess": False}).run(source, out, PassContext(calibration={"input": tiny_inputs(8)}))

    fp32, int8 = graph_cost(source), graph_cost(out)
    assert int8.weight_bytes["int8"] >= 1152 + 32768 + 320  # every Conv/Gemm weight, one byte per value
    assert int8.total_weight_bytes < 0.35 * fp32.total_weight_bytes
    assert int8.macs == fp32.macs  # same multiply-adds, now on integers


def test_zeros_are_reported_but_flops_stay_dense(tmp_path: Path) -> None:
    source = build_tiny_cnn(tmp_path / "tiny.onnx")
    out = tmp_path / "pruned.onnx"

    PruneMagnitude({"sparsity": 0.5}).run(source, out, PassContext())

    dense, sparse = graph_cost(source), graph_cost(out)
    assert dense.zero_weight_fraction == 0.0
    assert sparse.zero_weight_fraction == pytest.approx((576 + 16384) / (1152 + 32768 + 320), abs=1e-3)
    assert sparse.flops == dense.flops  # a dense kernel multiplies the zeros


def test_structured_pruning_at_0_3_cuts_the_demo_models_flops_by_a_quarter(tmp_path: Path) -> None:
    out = tmp_path / "pruned.onnx"

    PruneChannels({"ratio": 0.3}).run(DEMO_MODEL_PATH, out, PassContext())

    before, after = graph_cost(DEMO_MODEL_PATH), graph_cost(out)
    print(f"demo model, prune_channels ratio 0.3: {before.describe()} -> {after.describe()}")
    assert before.shapes_known and after.shapes_known
    assert after.flops <= 0.75 * before.flops
    assert after.total_weight_bytes < 0.75 * before.total_weight_bytes
    assert after.activation_bytes < before.activation_bytes


def test_the_external_mnist_model_counts_without_error() -> None:
    if not MNIST_MODEL.is_file():
        pytest.skip(f"mnist-cnn evaluation case not found at {MNIST_MODEL}")

    cost = graph_cost(MNIST_MODEL, batch=4)

    # conv1 [4,32,28,28] x 1x3x3, conv2 [4,64,14,14] x 32x3x3, fc1 3136 -> 128, fc2 128 -> 10
    assert cost.macs == 4 * (32 * 784 * 9 + 64 * 196 * 32 * 9 + 3136 * 128 + 128 * 10)
    assert cost.shapes_known and cost.uncounted_ops == {}
    assert cost.counted_ops["Reshape"] == 1 and cost.folded_nodes == 0
    assert cost.weight_bytes["int64"] == 16  # the Reshape's target shape, a Constant node
    assert "MFLOPs per query of 4" in cost.describe()


def test_ops_without_a_rule_and_unknown_shapes_are_listed(tmp_path: Path) -> None:
    # setup: a Conv followed by LRN (no rule), and the Conv alone with a symbolic height
    source = _conv_model(tmp_path / "conv.onnx")
    model = onnx.load(str(source))
    model.graph.node.append(helper.make_node("LRN", ["y"], ["z"], size=3))
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 6, 8, 8]))
    onnx.save(model, str(tmp_path / "lrn.onnx"))
    symbolic = _conv_model(tmp_path / "sym.onnx")
    model = onnx.load(str(symbolic))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, str(symbolic))

    # execute
    with_lrn, with_height = graph_cost(tmp_path / "lrn.onnx"), graph_cost(symbolic)

    # assert
    assert with_lrn.uncounted_ops == {"LRN": 1} and not with_lrn.shapes_known
    assert "not counted: LRN x1" in with_lrn.describe()
    assert with_lrn.flops == graph_cost(source).flops  # the Conv still counts: a lower bound
    assert not with_height.shapes_known and with_height.unknown_shapes == ("y",)
    assert with_height.uncounted_ops == {"Conv": 1}
    assert "lower bounds" in with_height.describe()


def test_aliasing_ops_do_not_count_their_output_twice(tmp_path: Path) -> None:
    plain = graph_cost(_conv_model(tmp_path / "conv.onnx"))
    flattened = graph_cost(_conv_model(tmp_path / "flat.onnx", tail="Flatten"))
    softmax = graph_cost(_conv_model(tmp_path / "softmax.onnx", tail="Softmax"))

    assert flattened.activation_bytes == plain.activation_bytes
    assert softmax.activation_bytes == 2 * plain.activation_bytes
    assert softmax.flops_by_op["Softmax"] == 5 * 6 * 64


def test_bad_input_is_a_value_error_naming_the_problem(tmp_path: Path) -> None:
    fixed = _conv_model(tmp_path / "fixed.onnx")
    model = onnx.load(str(fixed))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(fixed))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")

    with pytest.raises(ValueError, match="fixed first dimension of 1.*batch 8"):
        graph_cost(fixed, batch=8)
    with pytest.raises(ValueError, match="does not exist"):
        graph_cost(tmp_path / "absent.onnx")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        graph_cost(tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match="batch must be 1 or more"):
        graph_cost(fixed, batch=0)
    assert graph_cost(onnx.load(str(fixed))).batch == 1  # a loaded model works too, at its own batch
