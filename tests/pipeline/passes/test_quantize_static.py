"""pipeline.passes.quantize_static: calibrated INT8 with ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from pipeline.errors import PassError
from pipeline.passes import PassContext
from pipeline.passes import quantize_static as quantize_static_module
from pipeline.passes.quantize_static import QuantizeStatic

from .models import op_types, run_ort, tiny_inputs, top1_agreement


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_tiny_model_gets_qdq_nodes_and_keeps_a_dynamic_batch(
    method: str, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    # setup
    source = tiny_cnn()
    out = tmp_path / "int8.onnx"
    ctx = PassContext(calibration={"input": tiny_inputs(20)}, work_dir=tmp_path / "work")
    config = {"calibrate_method": method, "calibration_batch_size": 8, "max_calibration_samples": 20}

    # execute
    QuantizeStatic(config).run(source, out, ctx)

    # assert
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(out)
    weights = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    assert onnx.TensorProto.INT8 in weights.values()
    (logits,) = run_ort(out, {"input": tiny_inputs(3, seed=7)})  # a batch size never calibrated with
    assert logits.shape == (3, 10)
    assert list((tmp_path / "work").iterdir()) == []  # scratch space cleaned up


def test_mnist_int8_agrees_with_fp32_on_real_images(
    mnist_opset17: Path,
    mnist_calibration: dict[str, np.ndarray],
    mnist_eval: np.ndarray,
    tmp_path: Path,
) -> None:
    out = tmp_path / "mnist-int8.onnx"

    QuantizeStatic({"per_channel": True}).run(mnist_opset17, out, PassContext(calibration=mnist_calibration))

    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(out)
    fp32 = run_ort(mnist_opset17, {"input": mnist_eval})[0]
    int8 = run_ort(out, {"input": mnist_eval})[0]
    assert top1_agreement(fp32, int8) >= 0.95


def test_per_channel_on_opset11_is_refused_with_the_fix(
    mnist_model: Path, mnist_calibration: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "int8.onnx"

    with pytest.raises(PassError, match=r"^quantize_static: the model is opset 11.*opset_upgrade"):
        QuantizeStatic({"per_channel": True}).run(mnist_model, out, PassContext(calibration=mnist_calibration))

    assert not out.exists()


def test_unloadable_quantizer_output_is_a_pass_error_not_a_silent_success(
    mnist_model: Path,
    mnist_calibration: dict[str, np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setup: remove the opset guard, so ONNX Runtime writes DequantizeLinear(axis=...) into opset 11
    monkeypatch.setattr(quantize_static_module, "check_opset", lambda *args, **kwargs: None)
    out = tmp_path / "int8.onnx"

    # execute
    with pytest.raises(PassError, match="does not load in ONNX Runtime") as info:
        QuantizeStatic({"per_channel": True}).run(mnist_model, out, PassContext(calibration=mnist_calibration))

    # assert
    assert info.value.__cause__ is not None
    assert not out.exists()


def test_per_tensor_on_opset11_loads(
    mnist_model: Path, mnist_calibration: dict[str, np.ndarray], mnist_eval: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "int8.onnx"

    QuantizeStatic({"per_channel": False}).run(mnist_model, out, PassContext(calibration=mnist_calibration))

    fp32 = run_ort(mnist_model, {"input": mnist_eval})[0]
    assert top1_agreement(fp32, run_ort(out, {"input": mnist_eval})[0]) >= 0.95


@pytest.mark.parametrize("calibration", [None, {}])
def test_missing_calibration_says_to_pass_calib(
    calibration: dict[str, np.ndarray] | None, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    with pytest.raises(PassError, match=r"^quantize_static: .*--calib"):
        QuantizeStatic().run(tiny_cnn(), tmp_path / "int8.onnx", PassContext(calibration=calibration))


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ({"image": np.zeros((4, 8, 8, 8), np.float32)}, "no array for input.*input.*it has image"),
        ({"input": np.zeros((4, 8, 8), np.float32)}, "shape \\(4, 8, 8\\).*rank 4"),
        ({"input": np.zeros((4, 3, 8, 8), np.float32)}, "has 3 on axis 1 but the model expects 8"),
        ({"input": np.zeros((0, 8, 8, 8), np.float32)}, "no samples"),
    ],
)
def test_calibration_that_does_not_fit_the_model_is_a_pass_error(
    calibration: dict[str, np.ndarray], message: str, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    with pytest.raises(PassError, match=message):
        QuantizeStatic().run(tiny_cnn(), tmp_path / "int8.onnx", PassContext(calibration=calibration))


def test_calibration_is_cast_and_capped(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    calibration = {"input": tiny_inputs(50).astype(np.float64)}  # float64, more than the cap
    out = tmp_path / "int8.onnx"

    QuantizeStatic({"max_calibration_samples": 10}).run(tiny_cnn(), out, PassContext(calibration=calibration))

    assert "QuantizeLinear" in op_types(out)


def test_fixed_batch_model_is_calibrated_in_batches_of_that_size(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    source = tiny_cnn(batch=4)
    out = tmp_path / "int8.onnx"

    QuantizeStatic({"calibrate_method": "entropy"}).run(
        source, out, PassContext(calibration={"input": tiny_inputs(10)})
    )

    assert run_ort(out, {"input": tiny_inputs(4)})[0].shape == (4, 10)


def test_fixed_batch_larger_than_the_calibration_set_is_a_pass_error(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    with pytest.raises(PassError, match="fixed batch is 4 but only 3 calibration samples"):
        QuantizeStatic().run(
            tiny_cnn(batch=4), tmp_path / "int8.onnx", PassContext(calibration={"input": tiny_inputs(3)})
        )


def test_failed_preprocessing_falls_back_to_the_model_as_given(
    tiny_cnn: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onnxruntime.quantization import shape_inference

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("pre-processing exploded")

    monkeypatch.setattr(shape_inference, "quant_pre_process", broken)
    out = tmp_path / "int8.onnx"

    QuantizeStatic().run(tiny_cnn(), out, PassContext(calibration={"input": tiny_inputs(8)}))

    assert "QuantizeLinear" in op_types(out)


@pytest.mark.parametrize(
    "config",
    [
        {"calibrate_method": "kl"},
        {"activation_type": "int4"},
        {"quant_format": "onnx"},
        {"max_calibration_samples": 0},
        {"per_channel": "sometimes"},
    ],
)
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        QuantizeStatic(config)
