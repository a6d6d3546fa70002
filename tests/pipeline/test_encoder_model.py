"""pipeline.demo_model.encoder: the generated transformer encoder and its token data, run in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from pipeline.demo_model.encoder import CLS_ID, OPSET, PAD_ID, SEP_ID, build_encoder, make_token_data

SMALL = {"layers": 2, "hidden": 64, "heads": 4, "intermediate": 256, "seq_len": 32, "vocab": 500}


@pytest.fixture(scope="module")
def small_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_encoder(tmp_path_factory.mktemp("encoder") / "encoder.onnx", **SMALL)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the quantized models' benign optimizer notices
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _embed(path: Path, data: dict[str, np.ndarray]) -> np.ndarray:
    return _session(path).run(["embedding"], data)[0]


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


# --- the graph ---------------------------------------------------------------------------------


def test_graph_signature(small_encoder: Path) -> None:
    model = onnx.load(str(small_encoder))
    onnx.checker.check_model(model, full_check=True)  # includes strict shape inference
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    ops = {n.op_type for n in model.graph.node}
    assert {"Gather", "MatMul", "Softmax", "LayerNormalization", "Erf"} <= ops and "Gelu" not in ops
    for value in model.graph.input:
        assert value.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "sequence"]
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    (out,) = model.graph.output
    assert out.name == "embedding"
    dims = out.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 64


def test_output_is_unit_norm_float32_per_sample(small_encoder: Path) -> None:
    data = make_token_data(8, 32, 500, seed=0)
    emb = _embed(small_encoder, data)
    assert emb.shape == (8, 64) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert _mean_cosine(emb[:4], emb[4:]) < 0.99  # different sentences, different embeddings


@pytest.mark.parametrize(("batch", "seq"), [(1, 5), (3, 17), (2, 32)])
def test_batch_and_sequence_axes_are_dynamic(small_encoder: Path, batch: int, seq: int) -> None:
    data = make_token_data(batch, seq, 500, seed=seq)
    assert _embed(small_encoder, data).shape == (batch, 64)


def test_each_sample_is_independent_of_its_batch(small_encoder: Path) -> None:
    data = make_token_data(4, 32, 500, seed=3)
    together = _embed(small_encoder, data)
    alone = _embed(small_encoder, {k: v[2:3] for k, v in data.items()})
    np.testing.assert_allclose(together[2:3], alone, atol=1e-5)


def test_the_mask_changes_the_output(small_encoder: Path) -> None:
    data = make_token_data(4, 32, 500, seed=4)
    data["attention_mask"][:] = 1  # ids fixed; all 32 positions attended and pooled
    full = _embed(small_encoder, data)
    shorter = dict(data, attention_mask=data["attention_mask"].copy())
    shorter["attention_mask"][:, 16:] = 0
    assert _mean_cosine(full, _embed(small_encoder, shorter)) < 0.999


def test_padded_positions_do_not_leak_into_the_embedding(small_encoder: Path) -> None:
    data = make_token_data(6, 32, 500, seed=5)
    assert (data["attention_mask"] == 0).any()
    other = dict(data, input_ids=data["input_ids"].copy())
    other["input_ids"][data["attention_mask"] == 0] = 7  # different tokens where the mask is 0
    np.testing.assert_allclose(_embed(small_encoder, data), _embed(small_encoder, other), atol=1e-6)


def test_outliers_are_a_few_large_layernorm_gains(tmp_path: Path) -> None:
    def gains(outliers: bool) -> np.ndarray:
        model = onnx.load(str(build_encoder(tmp_path / f"{outliers}.onnx", outliers=outliers, **SMALL)))
        return np.stack([numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith(".gamma")])

    with_outliers, without = gains(True), gains(False)
    assert without.max() < 1.5
    big = with_outliers > 10
    assert 1 <= big.sum(axis=1).min() == big.sum(axis=1).max() <= 4  # the same few channels per LayerNorm
    assert (big == big[0]).all()  # in every layer


def test_defaults_build_the_minilm_shape(tmp_path: Path) -> None:
    path = build_encoder(tmp_path / "default.onnx")
    model = onnx.load(str(path))
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert 13_500_000 < params < 14_000_000  # 6 x (4 x 384^2 + 2 x 384 x 1536) + (8000 + 128) x 384 + norms
    emb = _embed(path, make_token_data(2, 128, 8000, seed=0))
    assert emb.shape == (2, 384)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"hidden": 64, "heads": 5}, "multiple of heads"), ({"layers": 0}, "layers"), ({"vocab": 3}, "vocab")],
)
def test_bad_shapes(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build_encoder(tmp_path / "x.onnx", **{**SMALL, **kwargs})


# --- token data --------------------------------------------------------------------------------


def test_token_data_looks_like_a_padded_tokenizer_batch() -> None:
    data = make_token_data(200, 32, 500, seed=1)
    ids, mask = data["input_ids"], data["attention_mask"]
    assert ids.shape == mask.shape == (200, 32) and ids.dtype == mask.dtype == np.int64
    lengths = mask.sum(axis=1)
    assert len(set(lengths.tolist())) > 10 and lengths.min() >= 3 and lengths.max() == 32  # varied, some truncated
    np.testing.assert_array_equal(mask, np.arange(32)[None, :] < lengths[:, None])  # ones, then zeros
    assert (ids[:, 0] == CLS_ID).all() and (ids[np.arange(200), lengths - 1] == SEP_ID).all()
    assert (ids[mask == 0] == PAD_ID).all() and ids.max() < 500
    counts = np.bincount(ids[(mask == 1) & (ids > SEP_ID)], minlength=500)
    assert counts[5:15].sum() > counts[-100:].sum()  # frequent words are frequent


def test_token_data_is_deterministic_per_seed() -> None:
    a, b, c = (make_token_data(5, 16, 100, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
    assert not np.array_equal(a["input_ids"], c["input_ids"])


# --- quantization fidelity ---------------------------------------------------------------------


def test_static_int8_defaults_lose_far_more_fidelity_than_dynamic(tmp_path: Path) -> None:
    """design.md: default INT8 static settings wreck a transformer's fidelity; dynamic INT8 keeps it."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self, data: dict[str, np.ndarray]) -> None:
            self._batches = iter([{k: v[i : i + 1] for k, v in data.items()} for i in range(len(data["input_ids"]))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    fp32 = build_encoder(tmp_path / "fp32.onnx", **SMALL, outliers=True)
    evaluation = make_token_data(48, 32, 500, seed=2)
    reference = _embed(fp32, evaluation)
    quantize_dynamic(fp32, tmp_path / "dynamic.onnx")
    quantize_static(fp32, tmp_path / "static.onnx", Reader(make_token_data(24, 32, 500, seed=1)))

    dynamic = _mean_cosine(reference, _embed(tmp_path / "dynamic.onnx", evaluation))
    static = _mean_cosine(reference, _embed(tmp_path / "static.onnx", evaluation))

    assert dynamic > 0.9
    assert 1 - static > 2 * (1 - dynamic) and dynamic - static > 0.01, (dynamic, static)


@pytest.mark.openvino
def test_openvino_loads_it_and_agrees_with_onnx_runtime(small_encoder: Path) -> None:
    """Opset 17 with the erf GELU is chosen so that OpenVINO reads it too."""
    ov = pytest.importorskip("openvino", reason="openvino is not installed (pip install 'edgeprof[agent-openvino]')")
    data = make_token_data(3, 20, 500, seed=6)
    compiled = ov.Core().compile_model(str(small_encoder), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(data)[compiled.output("embedding")]
    np.testing.assert_allclose(result, _embed(small_encoder, data), atol=1e-4)
