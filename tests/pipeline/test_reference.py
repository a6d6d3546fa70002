"""pipeline.reference: the FP32 reference on the host and the metric accuracy loss measures."""

from __future__ import annotations

import numpy as np

from calibration_data.loaders import Dataset
from pipeline.reference import resolve_metric


def _data(labels: bool) -> Dataset:
    x = np.zeros((4, 3), np.float32)
    return Dataset(inputs={"x": x}, labels=np.arange(4) if labels else None, source="t", num_samples=4)


def test_auto_is_top1_with_labels_cosine_for_embeddings_agreement_for_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 10))
    embeddings = logits / np.linalg.norm(logits, axis=1, keepdims=True)

    assert resolve_metric("auto", _data(labels=True), logits) == "top1"
    assert resolve_metric("auto", _data(labels=False), embeddings) == "cosine"
    assert resolve_metric("auto", _data(labels=False), logits) == "agreement"
    assert resolve_metric("auto", _data(labels=False), rng.normal(size=(4, 8, 16))) == "cosine"
    assert resolve_metric("cosine", _data(labels=True), logits) == "cosine"  # the user's choice stands
