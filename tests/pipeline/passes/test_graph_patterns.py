"""pipeline.passes.graph_patterns: telling a transformer from a CNN in an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.demo_model import DEMO_MODEL_PATH
from pipeline.passes.graph_patterns import TransformerEvidence, transformer_evidence

from .models import build_tiny_attention, build_tiny_cnn, save


def _evidence(path: Path) -> TransformerEvidence:
    return transformer_evidence(onnx.load(str(path)))


def test_attention_block_and_written_out_layer_norm_are_found(tmp_path: Path) -> None:
    evidence = _evidence(build_tiny_attention(tmp_path / "attention.onnx"))

    assert evidence
    assert evidence.attention == ("softmax",)
    assert evidence.layer_norms == ("ln_sqrt",)
    assert evidence.describe() == "1 attention block(s) (MatMul->Softmax->MatMul), 1 layer norm(s)"


def test_fused_layer_normalization_is_found(tmp_path: Path) -> None:
    evidence = _evidence(build_tiny_attention(tmp_path / "attention.onnx", fused_layer_norm=True))

    assert evidence.layer_norms == ("ln",)


@pytest.mark.parametrize("which", ["tiny", "demo"])
def test_cnns_are_not_transformers(which: str, tmp_path: Path) -> None:
    # the demo CNN ends in a global average pool (ReduceMean), which is no layer norm
    path = build_tiny_cnn(tmp_path / "cnn.onnx") if which == "tiny" else DEMO_MODEL_PATH

    evidence = _evidence(path)

    assert not evidence
    assert evidence.describe() == "no attention block or layer norm found"


def _graph(path: Path, nodes: list[onnx.NodeProto], init: list[onnx.TensorProto]) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, None])],
        initializer=init,
    )
    return save(graph, path, opset=17)


def test_a_classifier_softmax_after_a_matmul_is_no_attention(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.full((8, 3), 0.1, np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["y"])]

    assert not _evidence(_graph(tmp_path / "head.onnx", nodes, [w]))


def test_rms_norm_written_out_counts_as_a_layer_norm(tmp_path: Path) -> None:
    init = [helper.make_tensor("two", 1, [], [2.0]), helper.make_tensor("eps", 1, [], [1e-6])]
    nodes = [
        helper.make_node("Pow", ["x", "two"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
        helper.make_node("Add", ["ms", "eps"], ["ms_eps"]),
        helper.make_node("Sqrt", ["ms_eps"], ["rms"], name="rms_sqrt"),
        helper.make_node("Div", ["x", "rms"], ["y"]),
    ]

    assert _evidence(_graph(tmp_path / "rms.onnx", nodes, init)).layer_norms == ("rms_sqrt",)


def test_a_sqrt_of_something_else_is_no_layer_norm(tmp_path: Path) -> None:
    nodes = [helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Sqrt", ["a"], ["y"])]

    assert not _evidence(_graph(tmp_path / "sqrt.onnx", nodes, []))
