"""Calibration data as feeds for a model: split into batches, checked against the model's inputs.

Shared by the quantizers that calibrate (ONNX Runtime's ``quantize_static``, NNCF).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.passes.base import Pass

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class _InputSpec:
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...] | None  # None: rank unknown; None entries: symbolic dims


def _graph_inputs(pass_: Pass, model: onnx.ModelProto) -> list[_InputSpec]:
    import onnx

    initializers = {init.name for init in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        if not value.type.HasField("tensor_type"):
            raise pass_.fail(f"input {value.name!r} is not a tensor; only tensor inputs can be calibrated")
        tensor = value.type.tensor_type
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        except (KeyError, ValueError, TypeError) as exc:
            raise pass_.fail(f"input {value.name!r} has no usable element type ({tensor.elem_type})") from exc
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        specs.append(_InputSpec(value.name, dtype, shape))
    return specs


def calibration_batches(
    pass_: Pass,
    model: onnx.ModelProto,
    calibration: Mapping[str, np.ndarray] | None,
    *,
    max_samples: int,
    batch_size: int,
) -> list[dict[str, np.ndarray]]:
    """Split the calibration arrays into feeds for the model, checking names, ranks and dims."""
    specs = _graph_inputs(pass_, model)
    if not calibration:
        raise pass_.fail(
            "static quantization needs calibration data; pass --calib with samples for the model's "
            f"inputs ({', '.join(s.name for s in specs)}): an .npz with one array per input "
            "(or an .npy for a one-input model)"
        )
    missing = [s.name for s in specs if s.name not in calibration]
    if missing:
        raise pass_.fail(
            f"the calibration data has no array for input(s) {', '.join(missing)}; "
            f"it has {', '.join(sorted(calibration)) or 'nothing'}"
        )
    arrays = {s.name: np.asarray(calibration[s.name]) for s in specs}
    counts = {name: (len(a) if a.ndim else 0) for name, a in arrays.items()}
    if len(set(counts.values())) != 1:
        raise pass_.fail(f"calibration arrays differ in sample count: {counts}")
    n = min(next(iter(counts.values())), max_samples)
    if n == 0:
        raise pass_.fail("the calibration data holds no samples")

    fixed_batch = None
    for spec in specs:
        array = arrays[spec.name]
        if spec.shape is None:
            continue
        if array.ndim != len(spec.shape):
            raise pass_.fail(
                f"calibration array for input {spec.name!r} has shape {array.shape} but the model "
                f"expects rank {len(spec.shape)} ({_shape_text(spec.shape)}); the first axis counts samples"
            )
        for axis, (want, have) in enumerate(zip(spec.shape[1:], array.shape[1:], strict=True), start=1):
            if want is not None and want > 0 and want != have:
                raise pass_.fail(
                    f"calibration array for input {spec.name!r} has {have} on axis {axis} but the model "
                    f"expects {want} ({_shape_text(spec.shape)})"
                )
        if spec.shape and spec.shape[0] and fixed_batch is None:
            fixed_batch = spec.shape[0]

    if fixed_batch is not None:
        if n < fixed_batch:
            raise pass_.fail(f"the model's fixed batch is {fixed_batch} but only {n} calibration samples exist")
        step, count = fixed_batch, n // fixed_batch
    else:
        # equal batches only: the entropy and percentile calibrators cannot stack a ragged last one
        step = min(batch_size, n)
        count = n // step
    return [
        {s.name: np.ascontiguousarray(arrays[s.name][i * step : (i + 1) * step], dtype=s.dtype) for s in specs}
        for i in range(count)
    ]


def make_reader(batches: list[dict[str, np.ndarray]]) -> Any:
    """An ONNX Runtime ``CalibrationDataReader`` over prepared feeds (rewindable)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _FeedReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._index = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._index >= len(batches):
                return None
            self._index += 1
            return batches[self._index - 1]

        def rewind(self) -> None:
            self._index = 0

        def __len__(self) -> int:
            return len(batches)

    return _FeedReader()


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None or d == 0 else str(d) for d in shape) + "]"
