"""pipeline.passes.opset_upgrade: ONNX version conversion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from pipeline.passes import PassContext
from pipeline.passes.opset_upgrade import OpsetUpgrade

from .models import default_opset, run_ort, tiny_inputs


def test_tiny_model_is_upgraded_and_computes_the_same(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    # setup
    source = tiny_cnn(opset=11)
    out = tmp_path / "upgraded.onnx"
    x = tiny_inputs(5)

    # execute
    OpsetUpgrade({"target_opset": 17}).run(source, out, PassContext())

    # assert
    assert default_opset(source) == 11
    assert default_opset(out) == 17
    assert onnx.load(str(out)).ir_version >= 8  # opset 17 belongs to IR 8
    np.testing.assert_allclose(run_ort(out, {"input": x})[0], run_ort(source, {"input": x})[0], rtol=1e-5)


def test_mnist_opset11_is_upgraded_and_agrees_on_real_images(
    mnist_model: Path, mnist_eval: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "mnist17.onnx"

    OpsetUpgrade({"target_opset": 13}).run(mnist_model, out, PassContext())

    assert default_opset(mnist_model) == 11
    assert default_opset(out) == 13
    np.testing.assert_allclose(
        run_ort(out, {"input": mnist_eval})[0], run_ort(mnist_model, {"input": mnist_eval})[0], atol=1e-4
    )


@pytest.mark.parametrize("target", [11, 13])
def test_model_at_or_above_target_is_copied_unchanged(
    target: int, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    source = tiny_cnn(opset=13)
    out = tmp_path / "copy.onnx"

    OpsetUpgrade({"target_opset": target}).run(source, out, PassContext())

    assert out.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("config", [{"target_opset": 6}, {"target_opset": 99}, {"target_opset": "latest"}])
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="target_opset"):
        OpsetUpgrade(config)
