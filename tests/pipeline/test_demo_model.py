"""The bundled demo model and its data: what the docs promise is what the files hold."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import shape_inference

from calibration_data.loaders import load_dataset
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH

README = Path(DEMO_CALIB_PATH).parent / "README.md"


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(DEMO_MODEL_PATH), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.load(str(DEMO_MODEL_PATH))


def _flops_from_graph(model: onnx.ModelProto) -> int:
    """2 x MACs of Conv and Gemm at batch 1, recounted independently of the training script."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in m.graph.value_info}
    shapes.update({init.name: list(init.dims) for init in m.graph.initializer})
    shapes.update({vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in m.graph.output})
    total = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            total += 2 * int(np.prod(shapes[node.output[0]])) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            total += 2 * int(np.prod(shapes[node.output[0]])) * shapes[node.input[1]][1]
    return total


def test_paths_exist() -> None:
    for path in (DEMO_MODEL_PATH, DEMO_CALIB_PATH, DEMO_EVAL_PATH):
        assert isinstance(path, Path)
        assert path.is_file(), path


def test_file_is_small() -> None:
    assert DEMO_MODEL_PATH.stat().st_size < 5 * 1024 * 1024


def test_valid_onnx_opset_17(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model)
    assert {o.domain: o.version for o in model.opset_import}.get("", 0) == 17
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}  # folded for export


def test_inputs_and_outputs(session: ort.InferenceSession) -> None:
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == "image" and inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [1, 32, 32]  # dynamic batch
    assert out.name == "logits" and out.type == "tensor(float)"
    assert isinstance(out.shape[0], str) and out.shape[1:] == [10]


@pytest.mark.parametrize("batch", [1, 8])
def test_runs_at_batch(session: ort.InferenceSession, batch: int) -> None:
    x = load_dataset(DEMO_EVAL_PATH).inputs["image"][:batch]
    (logits,) = session.run(None, {"image": x})
    assert logits.shape == (batch, 10) and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    # batch 8 must give the same answers as eight runs at batch 1
    if batch > 1:
        singles = np.concatenate([session.run(None, {"image": x[i : i + 1]})[0] for i in range(batch)])
        np.testing.assert_allclose(logits, singles, rtol=1e-4, atol=1e-4)


def test_metadata(model: onnx.ModelProto) -> None:
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["edgeprof.dataset"] == "sklearn-digits"
    assert "32x32" in meta["edgeprof.preprocessing"] and "(x-0.5)/0.5" in meta["edgeprof.preprocessing"]
    flops = int(meta["edgeprof.flops_per_inference"])
    assert flops >= 50e6
    assert flops == _flops_from_graph(model)


def test_fp32_top1_on_eval(session: ort.InferenceSession) -> None:
    ds = load_dataset(DEMO_EVAL_PATH)
    x = ds.inputs["image"]
    preds = np.concatenate([session.run(None, {"image": x[i : i + 64]})[0].argmax(1) for i in range(0, len(x), 64)])
    top1 = float((preds == ds.labels).mean())
    assert top1 >= 0.95, top1


def test_data_files_match_the_model_input() -> None:
    calib, ev = load_dataset(DEMO_CALIB_PATH), load_dataset(DEMO_EVAL_PATH)
    assert 150 <= calib.num_samples <= 200
    assert ev.num_samples >= 500
    for ds in (calib, ev):
        x = ds.inputs["image"]
        assert set(ds.inputs) == {"image"}
        assert x.dtype == np.float32 and x.shape[1:] == (1, 32, 32)
        assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.9 and x.max() > 0.5
        assert ds.labels is not None and set(np.unique(ds.labels)) == set(range(10))
    assert ev.labels is not None and ev.labels.dtype == np.int64


def test_eval_is_disjoint_from_calibration() -> None:
    calib = load_dataset(DEMO_CALIB_PATH).inputs["image"]
    ev = load_dataset(DEMO_EVAL_PATH).inputs["image"]
    calib_rows = {row.tobytes() for row in calib}
    eval_rows = {row.tobytes() for row in ev}
    assert len(calib_rows) == len(calib) and len(eval_rows) == len(ev)  # no duplicates either
    assert not calib_rows & eval_rows


def test_readme_sha256_matches_files() -> None:
    text = README.read_text()
    for path in (DEMO_MODEL_PATH, DEMO_CALIB_PATH, DEMO_EVAL_PATH):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in text, f"{README} does not list the sha256 of {path.name} ({digest})"
