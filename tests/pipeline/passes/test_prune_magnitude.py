"""pipeline.passes.prune_magnitude: unstructured magnitude pruning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pipeline.errors import PassError
from pipeline.passes import PassContext
from pipeline.passes.prune_magnitude import PruneMagnitude, prune_tensor

from .models import run_ort, tiny_inputs, top1_agreement


def _weights(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_eligible_tensors_reach_the_sparsity_and_the_rest_is_untouched(
    sparsity: float, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    # setup
    source = tiny_cnn()
    out = tmp_path / "pruned.onnx"

    # execute
    PruneMagnitude({"sparsity": sparsity}).run(source, out, PassContext())

    # assert
    before, after = _weights(source), _weights(out)
    for name in ("conv.weight", "fc1.weight"):
        assert abs(float(np.mean(after[name] == 0)) - sparsity) <= 0.01, name
        kept = after[name] != 0
        np.testing.assert_array_equal(after[name][kept], before[name][kept])  # survivors unchanged
        assert np.abs(before[name][~kept]).max() <= np.abs(before[name][kept]).min()  # smallest went
    for name in ("conv.bias", "fc1.bias", "fc2.weight", "fc2.bias"):  # biases, and fc2 < min_params
        np.testing.assert_array_equal(after[name], before[name])
    assert run_ort(out, {"input": tiny_inputs(2)})[0].shape == (2, 10)


def test_mnist_pruned_half_still_runs_and_mostly_agrees(
    mnist_model: Path, mnist_eval: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "pruned.onnx"

    PruneMagnitude({"sparsity": 0.5}).run(mnist_model, out, PassContext())

    after = _weights(out)
    assert np.mean(after["conv1.weight"] == 0) < 0.01  # 288 values: below min_params
    for name in ("conv2.weight", "fc1.weight", "fc2.weight"):
        assert abs(float(np.mean(after[name] == 0)) - 0.5) <= 0.01, name
    fp32 = run_ort(mnist_model, {"input": mnist_eval})[0]
    assert top1_agreement(fp32, run_ort(out, {"input": mnist_eval})[0]) >= 0.9


def test_no_eligible_tensor_is_a_pass_error(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(PassError, match="no weight tensor to prune"):
        PruneMagnitude({"min_params": 10**6}).run(tiny_cnn(), tmp_path / "pruned.onnx", PassContext())


def test_prune_tensor_zeroes_exactly_the_smallest_magnitudes() -> None:
    weights = np.array([[0.5, -0.1, 2.0], [-3.0, 0.2, 0.0]], np.float32)

    pruned, count = prune_tensor(weights, 0.5)

    assert count == 3
    np.testing.assert_array_equal(pruned, [[0.5, 0.0, 2.0], [-3.0, 0.0, 0.0]])
    assert weights[0, 1] == np.float32(-0.1)  # input left alone


@pytest.mark.parametrize(
    "config", [{"sparsity": 0.0}, {"sparsity": 1.0}, {"sparsity": 1.5}, {"op_types": []}, {"min_params": 0}]
)
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PruneMagnitude(config)
