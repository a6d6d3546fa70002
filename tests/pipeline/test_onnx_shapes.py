"""pipeline.onnx_shapes: every tensor's type at one batch size."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from pipeline.onnx_shapes import TensorType, bind_batch, infer_tensor_types

from .passes.models import MNIST_MODEL, build_tiny_cnn


def test_symbolic_batch_is_bound_on_a_copy(tmp_path: Path) -> None:
    model = onnx.load(str(build_tiny_cnn(tmp_path / "tiny.onnx")))

    bound = bind_batch(model, 5)

    assert bound.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 5
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # the caller's model is untouched


def test_intermediate_tensors_get_their_shapes_and_types(tmp_path: Path) -> None:
    types = infer_tensor_types(onnx.load(str(build_tiny_cnn(tmp_path / "tiny.onnx"))), batch=3)

    assert types["c"] == TensorType(1, (3, 16, 8, 8))
    assert types["f"].dims == (3, 1024) and types["f"].size() == 3072
    assert types["logits"].dims == (3, 10)
    assert types["conv.weight"].dims == (16, 8, 3, 3)


def test_a_constant_node_and_an_unknown_dimension(tmp_path: Path) -> None:
    if not MNIST_MODEL.is_file():
        pytest.skip(f"mnist-cnn evaluation case not found at {MNIST_MODEL}")
    model = onnx.load(str(MNIST_MODEL))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"

    types = infer_tensor_types(model)

    assert types["/Constant_output_0"] == TensorType(7, (2,))
    assert types["/conv1/Conv_output_0"].dims == (1, 32, None, 28)
    assert not types["/conv1/Conv_output_0"].known and types["/conv1/Conv_output_0"].size() is None


def test_fixed_batch_other_than_asked_is_a_value_error(tmp_path: Path) -> None:
    model = onnx.load(str(build_tiny_cnn(tmp_path / "tiny.onnx", batch=2)))

    assert bind_batch(model, 2).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    with pytest.raises(ValueError, match="'input' has a fixed first dimension of 2.*batch 1"):
        bind_batch(model, 1)
    assert infer_tensor_types(model, batch=None)["logits"].dims == (2, 10)  # None: the model as it is
    symbolic = onnx.load(str(build_tiny_cnn(tmp_path / "dynamic.onnx")))
    assert infer_tensor_types(symbolic, batch=None)["logits"].dims == (1, 10)
