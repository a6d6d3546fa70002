"""A build's accuracy on the device and its loss against the FP32 reference, decided once per record.

Apart from :mod:`pipeline.record` because which reference applies (FP32 on the same device and
runtime, then another runtime, then the host) and what the loss measures (top-1, agreement, cosine)
is a policy of its own; the record only carries the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agent.protocol import AccuracyReport, BenchmarkResult, Measurement
from pipeline.numbers import finite

REFERENCE_ON_DEVICE = "fp32 measured on {device}"
REFERENCE_ON_HOST = "fp32 computed on the host with ONNX Runtime CPU"
REFERENCE_FIDELITY = "fp32 outputs (no labels): loss is 1 - top-1 agreement"
REFERENCE_COSINE = "fp32 outputs: loss is 1 - mean cosine similarity (embedding outputs)"
#: The quality metrics a run can judge builds by (``--metric``); "auto" is resolved before ranking.
METRICS = ("top1", "agreement", "cosine")
NO_ACCURACY_NOTE = "accuracy not measured (no evaluation data)"
HOST_REFERENCE_NOTE = "reference accuracy is the host's FP32 figure: no FP32 variant was measured on this device"


@dataclass(frozen=True, kw_only=True)
class Accuracy:
    """Accuracy measured on the device, and its loss against the FP32 reference.

    ``loss`` is absolute, as a fraction (0.01 = 1 percentage point). ``loss_kind`` says what it is:
    ``"top1"`` = reference top-1 − top-1 against labels; ``"fidelity"`` = 1 − top-1 agreement with
    the FP32 outputs (the evaluation set has no labels); ``"cosine"`` = 1 − mean cosine similarity
    to the FP32 outputs (embeddings); None when it could not be computed.
    """

    top1: float | None
    reference_top1: float | None
    loss: float | None = field(metadata={"json": "loss_abs"})
    loss_kind: str | None
    agreement: float | None
    cosine: float | None
    samples: int
    reference: str

    @property
    def is_fidelity(self) -> bool:
        """True when the loss compares with the FP32 outputs (agreement or cosine), not with labels."""
        return self.loss_kind in ("fidelity", "cosine")


ReferenceKey = tuple[str, str, int | None]


def fp32_references(results: Sequence[BenchmarkResult]) -> dict[ReferenceKey, float]:
    """(device, runtime, batch size) -> top-1 of the FP32 variant measured there at that batch size;
    batch None: at its largest batch (the result's own accuracy)."""
    ref: dict[ReferenceKey, float] = {}
    for r in results:
        if r.status != "ok" or r.precision != "fp32":
            continue
        if r.accuracy and r.accuracy.top1 is not None:
            ref[(r.device_id, r.runtime, None)] = r.accuracy.top1
        for m in r.measurements:
            if m.accuracy is not None and m.accuracy.top1 is not None and m.concurrency == 1:
                ref[(r.device_id, r.runtime, m.batch_size)] = m.accuracy.top1
    return ref


def accuracy_of(
    result: BenchmarkResult,
    measurement: Measurement,
    device_ref: Mapping[ReferenceKey, float],
    host_top1: float | None,
    metric: str,
) -> tuple[Accuracy | None, list[str]]:
    """The measurement's own accuracy (at its batch size; the result's for an older agent) against
    a reference, in order: FP32 on this device and runtime at this batch size, then at any, FP32 on
    this device with another runtime, the host's FP32 figure. Without labels, the loss is fidelity
    to the FP32 outputs."""
    acc: AccuracyReport | None = measurement.accuracy or result.accuracy
    if acc is None:
        return None, [NO_ACCURACY_NOTE]
    notes = []
    device, batch = result.device_id, measurement.batch_size
    reference_top1 = device_ref.get((device, result.runtime, batch), device_ref.get((device, result.runtime, None)))
    reference = REFERENCE_ON_DEVICE.format(device=device)
    if reference_top1 is None:
        for (dev, _rt, ref_batch), top1 in device_ref.items():
            if dev == device and ref_batch in (batch, None):
                reference_top1 = top1
                break
    if reference_top1 is None and host_top1 is not None:
        reference_top1, reference = host_top1, REFERENCE_ON_HOST
        notes.append(HOST_REFERENCE_NOTE)
    loss, loss_kind = None, None
    if metric == "cosine":
        if acc.cosine is not None:
            loss, loss_kind, reference = 1.0 - acc.cosine, "cosine", REFERENCE_COSINE
    elif metric == "top1" and acc.top1 is not None and reference_top1 is not None:
        loss, loss_kind = reference_top1 - acc.top1, "top1"
    elif acc.agreement is not None:
        loss, loss_kind = 1.0 - acc.agreement, "fidelity"
        reference = REFERENCE_FIDELITY
    accuracy = Accuracy(
        top1=acc.top1,
        reference_top1=reference_top1,
        loss=finite(loss),
        loss_kind=loss_kind if finite(loss) is not None else None,
        agreement=acc.agreement,
        cosine=acc.cosine,
        samples=acc.samples,
        reference=reference,
    )
    return accuracy, notes
