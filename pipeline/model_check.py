"""Reading the user's model and checking their data against it, before anything is built or written.

Every problem becomes one ``InputError`` line that names the file, what is wrong and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibration_data.loaders import Dataset, DatasetError, load_dataset
from pipeline.errors import InputError
from pipeline.store import sha256_file

_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | str, ...]  # ints for fixed axes, names (or "?") for dynamic ones
    dtype: str

    def describe(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    size_bytes: int
    opset: int
    producer: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    flops_per_inference: int | None
    metadata: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.path.name,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "opset": self.opset,
            "producer": self.producer,
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in self.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in self.outputs],
            "flops_per_inference": self.flops_per_inference,
        }


def _tensor_info(value_info: Any) -> TensorInfo:
    ttype = value_info.type.tensor_type
    dims: list[int | str] = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return TensorInfo(value_info.name, tuple(dims), _ONNX_DTYPES.get(ttype.elem_type, f"onnx-type-{ttype.elem_type}"))


def inspect_model(path: Path) -> ModelInfo:
    """Load and check an ONNX model; raise InputError saying why it cannot be used."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise InputError(f"model {path} does not exist: give the path to an .onnx file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise InputError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}); export it with torch.onnx.export "
            "or check that the file is complete"
        ) from None
    if not model.graph.node:
        raise InputError(f"{path} holds no ONNX graph: is it an ONNX model file?")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path} fails the ONNX checker: {first}") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(_tensor_info(v) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_tensor_info(v) for v in model.graph.output)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    meta = {p.key: p.value for p in model.metadata_props}
    flops = count_flops(model, inputs)
    return ModelInfo(
        path=path,
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        opset=opset,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        inputs=inputs,
        outputs=outputs,
        flops_per_inference=flops,
        metadata=meta,
    )


def count_flops(model: Any, inputs: tuple[TensorInfo, ...]) -> int | None:
    """FLOPs per inference (per sample) from :func:`pipeline.graph_cost.graph_cost`; None if the
    graph's shapes cannot be inferred."""
    from pipeline.graph_cost import graph_cost

    first = inputs[0].shape[0] if inputs and inputs[0].shape else None
    batch = first if isinstance(first, int) and first > 0 else 1
    try:
        cost = graph_cost(model, batch=batch)
    except ValueError:
        return None
    return int(round(cost.flops_per_sample)) if cost.flops else None


def load_bound_dataset(path: Path, model: ModelInfo, flag: str, need_labels: bool = False) -> Dataset:
    """Load ``path`` and check it against the model's inputs; arrays come back keyed by input name."""
    try:
        ds = load_dataset(path)
    except DatasetError as exc:
        raise InputError(f"{flag}: {exc}") from None
    inputs = dict(ds.inputs)
    if "" in inputs:
        if len(model.inputs) != 1:
            raise InputError(
                f"{flag} {path}: a bare .npy fits only a one-input model; this one has inputs "
                f"{', '.join(t.name for t in model.inputs)}: save an .npz with one array per input"
            )
        inputs = {model.inputs[0].name: inputs.pop("")}
    missing = [t.name for t in model.inputs if t.name not in inputs]
    if missing:
        raise InputError(
            f"{flag} {path} has arrays {sorted(inputs) or 'none'} but the model's inputs are "
            f"{[t.name for t in model.inputs]}: name each array after its input "
            f"(np.savez(file, {missing[0]}=...))"
        )
    bound = {}
    for spec in model.inputs:
        arr = inputs[spec.name]
        if str(arr.dtype) != spec.dtype:
            raise InputError(
                f"{flag} {path}: array '{spec.name}' is {arr.dtype} but the model's input expects {spec.dtype}: "
                f"convert it with arr.astype(np.{spec.dtype})"
            )
        expected = spec.shape[1:]
        got = arr.shape[1:]
        if len(got) != len(expected) or any(isinstance(e, int) and e != g for e, g in zip(expected, got, strict=False)):
            raise InputError(
                f"{flag} {path}: array '{spec.name}' has samples of shape {list(got)} but the model's input "
                f"'{spec.name}' expects [{', '.join(str(d) for d in spec.shape)}] (first axis = samples): "
                "preprocess the data to the model's input shape"
            )
        bound[spec.name] = arr
    if need_labels and ds.labels is None:
        raise InputError(f"{flag} {path} has no 'labels' array: add one to measure top-1 accuracy")
    return Dataset(inputs=bound, labels=ds.labels, source=ds.source, num_samples=ds.num_samples)
