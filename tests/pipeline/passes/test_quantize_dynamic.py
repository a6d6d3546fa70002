"""pipeline.passes.quantize_dynamic: INT8 weights, activations quantized at run time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from pipeline.errors import PassError
from pipeline.passes import PassContext
from pipeline.passes.quantize_dynamic import QuantizeDynamic

from .models import op_types, run_ort, save, tiny_inputs, top1_agreement

INTEGER_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


def test_tiny_model_gets_integer_operators(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    # setup
    source = tiny_cnn()
    out = tmp_path / "dyn.onnx"
    x = tiny_inputs(16)

    # execute
    QuantizeDynamic().run(source, out, PassContext())

    # assert
    assert INTEGER_OPS <= op_types(out)
    fp32, int8 = run_ort(source, {"input": x})[0], run_ort(out, {"input": x})[0]
    assert top1_agreement(fp32, int8) >= 0.9


def test_mnist_dynamic_int8_agrees_with_fp32(mnist_model: Path, mnist_eval: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "dyn.onnx"

    QuantizeDynamic({"per_channel": True}).run(mnist_model, out, PassContext())

    assert op_types(out) & {"ConvInteger", "MatMulInteger"}
    fp32 = run_ort(mnist_model, {"input": mnist_eval})[0]
    assert top1_agreement(fp32, run_ort(out, {"input": mnist_eval})[0]) >= 0.95


def test_op_types_leave_convolutions_in_fp32(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "dyn.onnx"

    QuantizeDynamic({"op_types": ["Gemm", "MatMul"]}).run(tiny_cnn(), out, PassContext())

    ops = op_types(out)
    assert "Conv" in ops and "ConvInteger" not in ops
    assert "MatMulInteger" in ops


def test_model_with_nothing_to_quantize_is_a_pass_error(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu_only",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    source = save(graph, tmp_path / "relu.onnx")

    with pytest.raises(PassError, match="no operator quantized"):
        QuantizeDynamic().run(source, tmp_path / "dyn.onnx", PassContext())
    assert not (tmp_path / "dyn.onnx").exists()


@pytest.mark.parametrize("config", [{"weight_type": "int4"}, {"op_types": []}, {"per_channel": "yes please"}])
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        QuantizeDynamic(config)
