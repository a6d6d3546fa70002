"""What NNCF's accuracy control needs from us (validation items and the metric) and what it did.

``nncf.quantize_with_accuracy_control`` calls ``validation_fn(compiled_model, items)`` on the FP32
model, on the INT8 one and after every revert; with per-item values returned it ranks operations
without extra passes. The metric is the one the report uses for the budget: top-1 against the
user's labels, else the mean cosine similarity of the first output to the FP32 outputs (top-1
agreement means nothing for an embedding; design.md). The drop is absolute.

NNCF returns only the model; which operations it reverted it says in its log (the final
"N out of M were reverted back to the floating-point precision" message), which
:func:`accuracy_report` reads. It measures both models itself once more, so the achieved metric in
the record is a measurement, not NNCF's last log line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.passes.base import PassContext

if TYPE_CHECKING:
    from pipeline.passes.base import Pass

#: the compiled models NNCF hands to ``validation_fn`` run in strict FP32; so do ours
VALIDATION_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
_REVERTED = re.compile(r"^(\d+) out of (\d+) were reverted back to the floating-point precision:")
_QUANTIZED_METRIC = re.compile(r"^Metric of quantized model: (\S+)")


@dataclass(frozen=True)
class EvaluationSet:
    """Validation items ``(first sample index, feeds)`` and what their outputs are scored against."""

    items: list[tuple[int, dict[str, np.ndarray]]]
    samples: int
    metric: str  # "top1" or "cosine"
    labels: np.ndarray | None = None
    reference: np.ndarray | None = None  # [samples, features]
    reference_source: str = ""

    @property
    def metric_text(self) -> str:
        return "top-1 against labels" if self.metric == "top1" else "mean cosine to the FP32 outputs"


def evaluation_set(pass_: Pass, ov_model: Any, ctx: PassContext, max_samples: int) -> EvaluationSet:
    """Check ``ctx.evaluation`` against the model's inputs and cut it into validation items."""
    evaluation = ctx.evaluation or {}
    ports = list(ov_model.inputs)
    names = [port.get_any_name() for port in ports]
    missing = [n for n in names if n not in evaluation]
    if missing:
        raise pass_.fail(
            f"the evaluation data has no array for input(s) {', '.join(missing)}; it has "
            f"{', '.join(sorted(evaluation)) or 'nothing'}: pass --eval with one array per model input"
        )
    counts = {n: len(np.asarray(evaluation[n])) if np.ndim(evaluation[n]) else 0 for n in names}
    if len(set(counts.values())) != 1:
        raise pass_.fail(f"evaluation arrays differ in sample count: {counts}")
    total = next(iter(counts.values()))
    first_dim = ports[0].get_partial_shape()[0] if ports[0].get_partial_shape().rank.is_static else None
    step = first_dim.get_length() if first_dim is not None and first_dim.is_static else 1
    samples = (min(total, max_samples) // step) * step
    if samples == 0:
        raise pass_.fail(f"accuracy control needs evaluation samples; the evaluation data holds {total}")
    dtypes = {n: port.get_element_type().to_dtype() for n, port in zip(names, ports, strict=True)}
    arrays = {n: np.asarray(evaluation[n]) for n in names}
    items = [
        (start, {n: np.ascontiguousarray(arrays[n][start : start + step], dtype=dtypes[n]) for n in names})
        for start in range(0, samples, step)
    ]

    if ctx.labels is not None:
        labels = np.asarray(ctx.labels).reshape(-1)
        if len(labels) != total:
            raise pass_.fail(f"the evaluation data has {total} samples but {len(labels)} labels")
        return EvaluationSet(items, samples, "top1", labels=labels[:samples].astype(np.int64))
    if ctx.reference is not None:
        reference = np.asarray(ctx.reference)
        if len(reference) != total:
            raise pass_.fail(f"the evaluation data has {total} samples but the FP32 reference {len(reference)}")
        return EvaluationSet(
            items, samples, "cosine", reference=_per_sample(reference[:samples]), reference_source="the pipeline"
        )
    outputs = [first_output(compile_for_validation(ov_model), feeds) for _, feeds in items]
    reference = _per_sample(np.concatenate(outputs))
    return EvaluationSet(items, samples, "cosine", reference=reference, reference_source="this pass (OpenVINO FP32)")


def validation_fn(evaluation: EvaluationSet) -> Callable[[Any, Iterable[Any]], tuple[float, list[float]]]:
    """``(compiled_model, items) -> (metric over the samples, metric per item)``, as NNCF calls it."""

    def validate(compiled_model: Any, items: Iterable[Any]) -> tuple[float, list[float]]:
        per_item: list[float] = []
        sizes: list[int] = []
        for start, feeds in items:
            scores = _scores(evaluation, start, first_output(compiled_model, feeds))
            per_item.append(float(scores.mean()))
            sizes.append(len(scores))
        metric = float(np.average(per_item, weights=sizes)) if per_item else 0.0
        return metric, per_item

    return validate


def accuracy_report(
    fp32_model: Any, int8_model: Any, evaluation: EvaluationSet, max_drop: float, nncf_messages: list[str]
) -> dict[str, Any]:
    """What accuracy control achieved (measured here on both models) and what NNCF says it reverted."""
    validate = validation_fn(evaluation)
    fp32_metric, _ = validate(compile_for_validation(fp32_model), evaluation.items)
    int8_metric, _ = validate(compile_for_validation(int8_model), evaluation.items)
    reverted: list[str] | None = []
    total_quantized = None
    before = None
    reverted_all = False
    for message in nncf_messages:
        found = _REVERTED.match(message)
        if found:
            total_quantized = int(found.group(2))
            reverted = [line.strip() for line in message.splitlines()[1:] if line.strip()]
        elif message.startswith("All layers have been checked"):
            reverted_all, reverted = True, None  # NNCF prints no list then
        elif _QUANTIZED_METRIC.match(message):
            before = _float(_QUANTIZED_METRIC.match(message).group(1))  # type: ignore[union-attr]
    drop = fp32_metric - int8_metric
    return {
        "applied": True,
        "metric": evaluation.metric_text,
        "reference_from": evaluation.reference_source or None,
        "evaluation_samples": evaluation.samples,
        "max_drop": max_drop,
        "drop_type": "absolute",
        "fp32_metric": fp32_metric,
        "int8_metric": int8_metric,
        "int8_metric_before_control": before,
        "drop": drop,
        "within_budget": drop <= max_drop,
        "reverted_operations": reverted,
        "reverted_all": reverted_all,
        "quantized_operations_before_control": total_quantized,
        "measured_with": "OpenVINO CPU on the host, inference_precision f32",
    }


def compile_for_validation(model: Any) -> Any:
    import openvino as ov

    return ov.Core().compile_model(model, "CPU", VALIDATION_CONFIG)


def first_output(compiled_model: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(compiled_model(feeds)[compiled_model.output(0)])


def _scores(evaluation: EvaluationSet, start: int, output: np.ndarray) -> np.ndarray:
    flat = _per_sample(output)
    stop = start + len(flat)
    if evaluation.metric == "top1":
        assert evaluation.labels is not None
        return (flat.argmax(axis=1) == evaluation.labels[start:stop]).astype(np.float64)
    assert evaluation.reference is not None
    reference = evaluation.reference[start:stop]
    norms = np.linalg.norm(flat, axis=1) * np.linalg.norm(reference, axis=1)
    return np.sum(flat * reference, axis=1) / np.maximum(norms, 1e-12)


def _per_sample(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    return array.reshape(len(array), -1)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
