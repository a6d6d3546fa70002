"""The FP32 reference on the host, and the evaluation artifact the devices score against.

The reference is the original model's first output on the evaluation inputs, computed here with ONNX
Runtime on the CPU; a device compares each build's outputs with it (fidelity) and, where the data has
labels, with the labels (top-1). The artifact's layout is the protocol's (:mod:`agent.protocol.eval_data`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from agent.protocol import eval_data
from agent.quality import looks_like_embedding
from calibration_data.loaders import Dataset
from pipeline.store import ArtifactStore, StoredArtifact


def host_reference(model_path: Path, data: Dataset, batch: int = 32) -> np.ndarray:
    """FP32 outputs of the original model on the host (ORT CPU): the fidelity reference."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0].shape[0]
    if isinstance(first, int) and first > 0:
        batch = first
    outs = []
    for start in range(0, data.num_samples, batch):
        # a full batch each time, wrapping at the end: a fixed batch axis accepts nothing else
        idx = np.arange(start, start + batch) % data.num_samples
        size = min(batch, data.num_samples - start)
        outs.append(sess.run(None, {k: v[idx] for k, v in data.inputs.items()})[0][:size])
    return np.concatenate(outs, axis=0)


def host_top1(reference: np.ndarray, data: Dataset) -> float | None:
    """Top-1 of the FP32 model on the host, where the data has labels."""
    if data.labels is None:
        return None
    return float((reference.argmax(axis=1) == data.labels).mean())


def resolve_metric(asked: str, data: Dataset | None, reference: np.ndarray | None) -> str:
    """The metric accuracy loss measures: ``asked`` unless "auto"; then top-1 where there are labels,
    cosine where the FP32 outputs look like embeddings (unit-norm rows, or not [samples, classes]),
    top-1 agreement otherwise."""
    if asked != "auto":
        return asked
    if data is not None and data.labels is not None:
        return "top1"
    if reference is not None and (reference.ndim != 2 or looks_like_embedding(reference)):
        return "cosine"
    return "agreement"


def pack_eval(store: ArtifactStore, data: Dataset, reference: np.ndarray) -> StoredArtifact:
    """The evaluation artifact in the store: inputs, labels and the reference, one ``.npz``."""
    with tempfile.TemporaryDirectory(prefix="edgeprof-eval-") as tmp:
        path = Path(tmp) / "eval.npz"
        eval_data.write_eval_set(path, data.inputs, reference=reference, labels=data.labels)
        return store.put(path, eval_data.MEDIA_TYPE)
