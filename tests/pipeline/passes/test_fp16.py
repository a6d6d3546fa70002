"""pipeline.passes.fp16: FP16 weights and compute, FP32 inputs and outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from pipeline.errors import PassError
from pipeline.passes import PassContext
from pipeline.passes import fp16 as fp16_module
from pipeline.passes.fp16 import ConvertFP16

from .models import run_ort, tiny_inputs, top1_agreement


def _float_initializer_types(path: Path) -> set[int]:
    model = onnx.load(str(path))
    return {i.data_type for i in model.graph.initializer if i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)}


def _io_types(path: Path) -> set[int]:
    graph = onnx.load(str(path)).graph
    return {v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}


def test_mnist_fp16_keeps_fp32_io_and_agrees(mnist_model: Path, mnist_eval: np.ndarray, tmp_path: Path) -> None:
    # setup
    out = tmp_path / "fp16.onnx"

    # execute
    ConvertFP16().run(mnist_model, out, PassContext(calibration={"input": mnist_eval[:4]}))

    # assert
    assert _float_initializer_types(out) == {TensorProto.FLOAT16}
    assert _io_types(out) == {TensorProto.FLOAT}
    fp32 = run_ort(mnist_model, {"input": mnist_eval})[0]
    fp16 = run_ort(out, {"input": mnist_eval})[0]
    assert fp16.dtype == np.float32
    assert top1_agreement(fp32, fp16) >= 0.99


def test_tiny_model_without_kept_io_types_takes_fp16(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    source = tiny_cnn()
    out = tmp_path / "fp16.onnx"
    x = tiny_inputs(8)

    ConvertFP16({"keep_io_types": False}).run(source, out, PassContext())

    assert _io_types(out) == {TensorProto.FLOAT16}
    fp16 = run_ort(out, {"input": x.astype(np.float16)})[0]
    np.testing.assert_allclose(fp16.astype(np.float32), run_ort(source, {"input": x})[0], rtol=0.05, atol=0.05)


def test_op_block_list_keeps_those_operators_in_fp32(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "fp16.onnx"

    ConvertFP16({"op_block_list": ["Gemm"]}).run(tiny_cnn(), out, PassContext())

    types = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    assert types["conv.weight"] == TensorProto.FLOAT16
    assert types["fc1.weight"] == TensorProto.FLOAT


def test_non_finite_fp16_outputs_are_a_pass_error(
    tiny_cnn: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: ONNX Runtime on CPU computes FP16 operators through FP32 and drops the casts between
    # them, so a real overflow cannot be provoked here; make the FP16 run return inf instead.
    real_run = fp16_module.run_session
    calls: list[int] = []

    def fp16_overflows(pass_: Any, session: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = real_run(pass_, session, feeds)
        calls.append(1)
        return [np.full_like(outputs[0], np.inf)] if len(calls) == 1 else outputs

    monkeypatch.setattr(fp16_module, "run_session", fp16_overflows)
    out = tmp_path / "fp16.onnx"

    # execute
    with pytest.raises(PassError, match="overflow.*op_block_list"):
        ConvertFP16().run(tiny_cnn(), out, PassContext(calibration={"input": tiny_inputs(2)}))

    # assert
    assert len(calls) == 2  # the FP32 reference was run and stayed finite
    assert not out.exists()


@pytest.mark.parametrize("config", [{"keep_io_types": "maybe"}, {"op_block_list": "Gemm"}])
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConvertFP16(config)
