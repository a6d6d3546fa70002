"""Scoring a build on the host before it is shipped: the same figures the device measures.

Where the runtime that will run a build is installed here, the build is run on (a slice of) the
evaluation data and scored with :func:`agent.quality.output_quality`, the agent's own scoring. A
variant whose loss already breaks the user's budget here is not sent to any device: it is rejected,
with its figure, and the report lists it. The device's figure stays the one that is ranked: its
kernels may differ from the host's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.quality import output_quality

#: Samples scored on the host: enough to tell a broken build (cosine 0.34) from a good one (0.997)
#: in seconds; the device scores the whole evaluation set.
HOST_SAMPLES = 256


@dataclass(frozen=True)
class HostQuality:
    metric: str  # top1 | agreement | cosine
    value: float  # the metric's figure for the build
    reference_value: float  # the FP32 model's figure (1.0 for agreement and cosine)
    samples: int
    runtime: str

    @property
    def loss(self) -> float:
        return self.reference_value - self.value

    def describe(self) -> str:
        return (
            f"{self.metric} {self.value:.4f} on the host against {self.reference_value:.4f} for FP32 "
            f"(loss {self.loss:.4f}; {self.samples} samples, {self.runtime})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "reference_value": self.reference_value,
            "loss": self.loss,
            "samples": self.samples,
            "runtime": self.runtime,
        }


def score(
    runtime: Any,
    runtime_name: str,
    inputs: Mapping[str, np.ndarray],
    reference: np.ndarray,
    labels: np.ndarray | None,
    metric: str,
) -> HostQuality:
    """Run the loaded ``runtime`` on the first :data:`HOST_SAMPLES` samples and score its first output."""
    n = min(HOST_SAMPLES, len(reference))
    first = runtime.inputs[0].shape[0] if runtime.inputs and runtime.inputs[0].shape else None
    batch = first if isinstance(first, int) and first > 0 else 32
    outputs = []
    for start in range(0, n, batch):
        idx = np.arange(start, start + batch) % len(reference)  # full batches: a fixed batch axis needs them
        size = min(batch, n - start)
        feeds = {name: np.ascontiguousarray(arr[idx]) for name, arr in inputs.items()}
        outputs.append(np.asarray(runtime.infer(feeds)[0])[:size])
    figures = output_quality(np.concatenate(outputs), labels[:n] if labels is not None else None, reference[:n])
    if metric == "top1" and labels is not None:
        ref_top1 = float((np.asarray(reference[:n]).reshape(n, -1).argmax(axis=1) == labels[:n]).mean())
        return HostQuality("top1", _value(figures["top1"]), ref_top1, n, runtime_name)
    name = "cosine" if metric == "cosine" else "agreement"
    return HostQuality(name, _value(figures[name]), 1.0, n, runtime_name)


def _value(x: float | None) -> float:
    return float(x) if x is not None else float("nan")
