"""Reading a model and binding data to its inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH
from pipeline.errors import InputError
from pipeline.model_check import inspect_model, load_bound_dataset


def test_demo_model_is_described() -> None:
    info = inspect_model(DEMO_MODEL_PATH)
    assert [t.name for t in info.inputs] == ["image"]
    assert info.inputs[0].shape[1:] == (1, 32, 32) and info.inputs[0].dtype == "float32"
    assert info.opset == 17 and info.flops_per_inference and info.flops_per_inference > 50e6


def test_flops_are_counted_when_metadata_is_absent(mnist_dir) -> None:  # type: ignore[no-untyped-def]
    info = inspect_model(mnist_dir / "mnist-cnn.onnx")
    assert info.opset == 11
    # conv 1->? 5x5 etc.: a counted figure in the right range for this small CNN
    assert info.flops_per_inference is not None and 1e6 < info.flops_per_inference < 1e8


def test_npy_binds_to_the_only_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((3, 1, 32, 32), np.float32))
    ds = load_bound_dataset(path, inspect_model(DEMO_MODEL_PATH), "--calib")
    assert list(ds.inputs) == ["image"] and ds.num_samples == 3


def test_labels_can_be_required(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.npz"
    np.savez(path, image=np.zeros((3, 1, 32, 32), np.float32))
    with pytest.raises(InputError, match="no 'labels'"):
        load_bound_dataset(path, inspect_model(DEMO_MODEL_PATH), "--eval", need_labels=True)
    assert (
        load_bound_dataset(DEMO_EVAL_PATH, inspect_model(DEMO_MODEL_PATH), "--eval", need_labels=True).labels
        is not None
    )
