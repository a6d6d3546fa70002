"""pipeline.passes.qdq_mixed through quantize_static: with a budget, INT8 keeps in float what costs most."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pipeline.demo_model.encoder import build_encoder, make_token_data
from pipeline.passes import PassContext
from pipeline.passes.qdq_mixed import host_loss
from pipeline.passes.quantize_static import QuantizeStatic


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, np.ndarray]:
    path = build_encoder(
        tmp_path_factory.mktemp("enc") / "enc.onnx",
        layers=2,
        hidden=64,
        heads=4,
        intermediate=128,
        seq_len=32,
        vocab=500,
    )
    calib, evals = make_token_data(64, 32, 500, seed=1), make_token_data(64, 32, 500, seed=2)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, evals)[0]
    return path, calib, evals, reference


def test_a_budget_keeps_the_costly_nodes_in_float_until_it_holds(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, calib, evals, reference = encoder
    budget = 0.002  # cosine >= 0.998
    plain = tmp_path / "plain.onnx"
    QuantizeStatic().run(path, plain, PassContext(calibration=calib))
    plain_loss = host_loss(plain, evals, reference, None, "cosine")
    assert plain_loss > budget  # all-INT8 with defaults breaks it on this encoder (outlier LayerNorm gains)

    mixed = tmp_path / "mixed.onnx"
    q = QuantizeStatic()
    ctx = PassContext(
        calibration=calib, evaluation=evals, reference=reference, metric="cosine", max_accuracy_loss=budget
    )
    q.run(path, mixed, ctx)

    control = q.recorded["accuracy_control"]
    assert host_loss(mixed, evals, reference, None, "cosine") <= budget
    assert control["host_loss_per_attempt"][0] == pytest.approx(plain_loss, abs=1e-6)
    assert control["host_loss_per_attempt"][-1] <= budget and control["metric"] == "cosine"
    ops = {n.op_type for n in onnx.load(str(mixed)).graph.node}
    assert "QuantizeLinear" in ops, "mixed precision must stay INT8 where it can, not fall back to FP32"


def test_without_a_budget_nothing_is_searched(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, calib, evals, reference = encoder
    q = QuantizeStatic()
    q.run(path, tmp_path / "q.onnx", PassContext(calibration=calib, evaluation=evals, reference=reference))
    assert q.recorded == {}
    off = QuantizeStatic({"accuracy_control": "off"})
    ctx = PassContext(
        calibration=calib, evaluation=evals, reference=reference, metric="cosine", max_accuracy_loss=0.002
    )
    off.run(path, tmp_path / "off.onnx", ctx)
    assert off.recorded == {}
