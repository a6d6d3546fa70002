"""pipeline.passes.prune_2to4: 2:4 semi-structured sparsity along the reduction axis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pipeline.errors import PassError
from pipeline.graph_cost import graph_cost
from pipeline.passes import PassContext
from pipeline.passes.prune_2to4 import Prune2to4, is_2to4, prune_2to4_tensor
from pipeline.passes.quantize_static import QuantizeStatic

from .models import MLP_FEATURES, build_mlp, random_inputs, run_ort, tiny_inputs, top1_agreement


def _weights(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def test_groups_of_four_run_along_the_reduction_axis_of_each_layer(tmp_path: Path) -> None:
    # setup: fc1 Gemm transB=1 ([out, in]: axis 1), fc2 MatMul ([in, out]: axis 0), fc3 Gemm ([in, out]: axis 0)
    source = build_mlp(tmp_path / "mlp.onnx", dead=0.0)
    out = tmp_path / "sparse.onnx"

    # execute
    Prune2to4({"min_params": 1}).run(source, out, PassContext())

    # assert
    before, after = _weights(source), _weights(out)
    for name, axis in (("fc1.w", 1), ("fc2.w", 0), ("fc3.w", 0)):
        assert is_2to4(after[name], axis), name
        assert not is_2to4(after[name], 1 - axis), f"{name}: the groups must run along the reduction axis only"
        assert float(np.mean(after[name] == 0)) == 0.5
        kept = after[name] != 0
        np.testing.assert_array_equal(after[name][kept], before[name][kept])  # survivors unchanged
    for name in ("fc1.b", "fc2.b", "fc3.b"):  # biases are not weights of a product
        np.testing.assert_array_equal(after[name], before[name])
    x = random_inputs((MLP_FEATURES,), 32)
    dense, sparse = run_ort(source, {"x": x})[0], run_ort(out, {"x": x})[0]
    assert sparse.shape == dense.shape
    assert 0 < np.abs(sparse - dense).max() < np.abs(dense).max()  # changed, not wrecked


def test_conv_groups_run_along_input_channels_and_flops_stay_dense(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    # setup: tiny CNN conv.weight [16, 8, 3, 3] (C_in 8), fc1 [1024, 32] (K 1024), fc2 [32, 10] (320 values)
    source = tiny_cnn()
    out = tmp_path / "sparse.onnx"

    # execute
    Prune2to4().run(source, out, PassContext())

    # assert
    after = _weights(out)
    assert is_2to4(after["conv.weight"], 1) and is_2to4(after["fc1.weight"], 0)
    assert not (after["fc2.weight"] == 0).any()  # below min_params: left dense
    assert graph_cost(out).flops == graph_cost(source).flops
    assert graph_cost(out).zero_weight_fraction == pytest.approx((576 + 16384) / (1152 + 32768 + 320), abs=1e-3)
    x = tiny_inputs(64)
    assert top1_agreement(run_ort(source, {"input": x})[0], run_ort(out, {"input": x})[0]) >= 0.5


def test_a_dimension_that_is_not_a_multiple_of_4_is_skipped_and_named(
    mnist_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # conv1.weight [32, 1, 3, 3]: one input channel; the rest divide by 4
    out = tmp_path / "sparse.onnx"

    with caplog.at_level(logging.INFO, logger="pipeline.passes.prune_2to4"):
        Prune2to4({"min_params": 1}).run(mnist_model, out, PassContext())

    after = _weights(out)
    assert not (after["conv1.weight"] == 0).any()
    assert "'conv1.weight': its reduction dimension (1) is not a multiple of 4" in caplog.text
    assert "--sparsity=enable" in caplog.text
    assert is_2to4(after["conv2.weight"], 1) and is_2to4(after["fc1.weight"], 1) and is_2to4(after["fc2.weight"], 1)


def test_nothing_eligible_is_a_pass_error_saying_why(mnist_model: Path, tmp_path: Path) -> None:
    with pytest.raises(PassError, match=r"no weight can be made 2:4 sparse.*fewer than min_params"):
        Prune2to4({"min_params": 10**7}).run(mnist_model, tmp_path / "out.onnx", PassContext())
    assert not (tmp_path / "out.onnx").exists()


def test_a_quantized_build_is_refused_with_the_fix(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    int8 = tmp_path / "int8.onnx"
    QuantizeStatic({"preprocess": False}).run(tiny_cnn(), int8, PassContext(calibration={"input": tiny_inputs(4)}))

    with pytest.raises(PassError, match="dequantized at run time: apply 2:4 before quantizing"):
        Prune2to4().run(int8, tmp_path / "out.onnx", PassContext())


def test_prune_2to4_tensor_keeps_the_two_largest_of_each_group() -> None:
    weights = np.array([[0.1, -0.9, 0.3, 0.5], [2.0, 2.0, -2.0, 0.0]], np.float32)

    pruned, zeroed = prune_2to4_tensor(weights, axis=1)

    expected = np.array([[0.0, -0.9, 0.0, 0.5], [2.0, 2.0, 0.0, 0.0]], np.float32)  # ties keep the earlier
    np.testing.assert_array_equal(pruned, expected)
    assert zeroed == 3  # the 0.0 already there is not counted as new
    assert weights[0, 0] == np.float32(0.1)  # input left alone
    assert is_2to4(pruned, 1) and not is_2to4(weights, 1)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        prune_2to4_tensor(np.ones((3, 6), np.float32), axis=1)


@pytest.mark.parametrize("config", [{"op_types": ["LSTM"]}, {"op_types": []}, {"min_params": 0}])
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Prune2to4(config)
