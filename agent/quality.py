"""Output quality against labels and against the FP32 reference: the figures accuracy loss rests on.

Shared by the agent (scoring a build on the device) and the host (scoring a build before it is
shipped), so that the two agree to the digit. Pure numpy.

- ``top1``: the share of samples whose arg-max output is the label (classifiers with labels);
- ``agreement``: the share whose arg-max equals the FP32 reference's (classifiers without labels);
- ``cosine``: the mean cosine similarity of each sample's output vector to the reference's, the
  fidelity figure for embeddings (arg-max over embedding dimensions means nothing).
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np


def output_quality(
    outputs: np.ndarray, labels: Optional[np.ndarray] = None, reference: Optional[np.ndarray] = None
) -> Dict[str, Optional[float]]:
    """``{"top1", "agreement", "cosine"}`` for ``outputs`` (samples first); None where not computable."""
    n = len(outputs)
    flat = np.asarray(outputs, dtype=np.float64).reshape(n, -1)
    predicted = flat.argmax(axis=1)
    top1 = None
    if labels is not None:
        top1 = float((predicted == np.asarray(labels[:n]).astype(np.int64)).mean())
    agreement = cosine = None
    if reference is not None:
        ref = np.asarray(reference[:n], dtype=np.float64).reshape(n, -1)
        if ref.shape == flat.shape:
            agreement = float((ref.argmax(axis=1) == predicted).mean())
            num = (ref * flat).sum(axis=1)
            den = np.linalg.norm(ref, axis=1) * np.linalg.norm(flat, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
            cosine = float(cos.mean())
            if math.isnan(cosine):
                cosine = None
    return {"top1": top1, "agreement": agreement, "cosine": cosine}


def looks_like_embedding(reference: np.ndarray) -> bool:
    """True when the FP32 outputs look like embeddings rather than logits: unit-norm rows, or rows
    that are not one-hot-ish (no dominant class). Used only to pick a default metric; the user can
    name one."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if ref.shape[1] < 2:
        return False
    norms = np.linalg.norm(ref, axis=1)
    if len(norms) and np.allclose(norms, 1.0, atol=1e-3):
        return True
    return False
