"""Mixed precision for ONNX Runtime QDQ models: keep in float the nodes whose quantization costs most.

NNCF's accuracy control does this for OpenVINO; this is the equivalent for ``quantize_static``. Given
an accuracy budget and evaluation data, the fully quantized model is scored on the host; while its
loss breaks the budget, first only the heavy operators (Conv, MatMul, Gemm) stay quantized (on
transformers most of the loss is in quantizing the Softmax inputs and the additive attention mask),
then the heavy nodes that add the most quantization error are kept in float too (1, then 2, 4, …
more), each time quantizing again. A node's share of the error is what its output's relative
error adds to the worst relative error of its inputs, measured on a few evaluation samples with every
intermediate tensor exposed in both the float and the quantized model, so that error a node only
passes on is not blamed on it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.quality import output_quality
from pipeline.errors import PassError

#: Samples used to score a candidate on the host and to rank the nodes.
SCORE_SAMPLES = 256
RANK_SAMPLES = 16
#: Node types worth keeping in float (the others carry no quantization of their own in QDQ form).
COMPUTE_OPS = frozenset(
    {"Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Mul", "Softmax", "Concat", "AveragePool",
     "GlobalAveragePool", "MaxPool", "Sigmoid", "LayerNormalization", "Resize", "Gather", "Where"}
)  # fmt: skip


#: The operators worth their quantization: they hold the multiply-adds.
HEAVY_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm"]


@dataclass
class MixedResult:
    excluded: list[str] = field(default_factory=list)
    op_types: list[str] | None = None  # None: every type ONNX Runtime quantizes
    losses: list[float] = field(default_factory=list)  # the host loss after each attempt
    metric: str = ""

    def to_settings(self) -> dict[str, Any]:
        return {
            "accuracy_control": {
                "metric": self.metric,
                "host_loss_per_attempt": [round(x, 6) for x in self.losses],
                "quantized_op_types": self.op_types or "all",
                "kept_in_float": list(self.excluded),
            }
        }


def host_loss(model_path: Path, evaluation: Mapping[str, np.ndarray], reference: np.ndarray,
              labels: np.ndarray | None, metric: str) -> float:  # fmt: skip
    """The model's loss on the host (ORT CPU) under ``metric``, on the first samples."""
    outputs = _run(model_path, evaluation, SCORE_SAMPLES)[0]
    n = len(outputs)
    q = output_quality(outputs, labels[:n] if labels is not None else None, reference[:n])
    if metric == "top1" and labels is not None:
        ref_top1 = float((np.asarray(reference[:n]).reshape(n, -1).argmax(axis=1) == labels[:n]).mean())
        return ref_top1 - float(q["top1"] or 0.0)
    if metric == "cosine":
        return 1.0 - float(q["cosine"] or 0.0)
    return 1.0 - float(q["agreement"] or 0.0)


def rank_nodes(float_path: Path, quantized_path: Path, evaluation: Mapping[str, np.ndarray]) -> list[str]:
    """Compute nodes of the float model, most quantization error added first."""
    import onnx

    model = onnx.load(str(float_path))
    float_tensors = _float_tensors(model)
    candidates = [n for n in model.graph.node if n.op_type in COMPUTE_OPS and n.name and n.output[0] in float_tensors]
    names = sorted(float_tensors)
    ref = dict(zip(names, _run(float_path, evaluation, RANK_SAMPLES, expose=names), strict=True))
    got = dict(zip(names, _run(quantized_path, evaluation, RANK_SAMPLES, expose=names), strict=True))

    def error(t: str) -> float:
        if t not in ref or t not in got or ref[t].shape != got[t].shape:
            return 0.0
        return float(np.linalg.norm(got[t] - ref[t]) / (np.linalg.norm(ref[t]) + 1e-12))

    added = {}
    for node in candidates:
        inputs = [error(t) for t in node.input if t in float_tensors]
        added[node.name] = error(node.output[0]) - max(inputs, default=0.0)
    return sorted(added, key=lambda name: added[name], reverse=True)


def search(
    quantize: Callable[[list[str], list[str] | None, Path], None],
    float_path: Path,
    evaluation: Mapping[str, np.ndarray],
    reference: np.ndarray,
    labels: np.ndarray | None,
    metric: str,
    budget: float,
    out_path: Path,
    max_attempts: int = 6,
) -> MixedResult:
    """Quantize into ``out_path`` keeping more nodes in float until the host loss is within ``budget``
    (or the attempts run out: the last attempt is kept, and the build stage rejects it with its figure)."""
    result = MixedResult(metric=metric)
    quantize([], None, out_path)
    result.losses.append(host_loss(out_path, evaluation, reference, labels, metric))
    if result.losses[-1] <= budget:
        return result
    if host_loss(float_path, evaluation, reference, labels, metric) > budget:
        return result  # the float input already breaks the budget (pruned, say): no precision can fix it
    with tempfile.TemporaryDirectory(prefix="edgeprof-mixed-") as tmp:
        candidate = Path(tmp) / "candidate.onnx"

        def attempt(excluded: list[str], op_types: list[str] | None) -> bool:
            try:
                quantize(excluded, op_types, candidate)
            except PassError:
                return False  # nothing would stay quantized: keep the last attempt
            result.excluded, result.op_types = excluded, op_types
            result.losses.append(host_loss(candidate, evaluation, reference, labels, metric))
            candidate.replace(out_path)
            return True

        if not attempt([], HEAVY_OPS) or result.losses[-1] <= budget:
            return result
        ranked = [n for n in rank_nodes(float_path, out_path, evaluation) if _op_type(float_path, n) in HEAVY_OPS]
        step = 1
        for _ in range(max_attempts - 2):
            if len(result.excluded) >= len(ranked) or not attempt(ranked[: len(result.excluded) + step], HEAVY_OPS):
                break
            step *= 2
            if result.losses[-1] <= budget:
                break
    return result


def _op_type(path: Path, node_name: str) -> str:
    import onnx

    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.name == node_name:
            return str(node.op_type)
    return ""


def _float_tensors(model: Any) -> set[str]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {
        vi.name
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output)
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    return floats - {i.name for i in model.graph.initializer}


def _run(path: Path, evaluation: Mapping[str, np.ndarray], samples: int, expose: list[str] | None = None) -> list[Any]:
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    outputs = [o.name for o in model.graph.output]
    if expose:
        present = {t for n in model.graph.node for t in n.output}
        extra = [t for t in expose if t in present and t not in outputs]
        model.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in extra)
        outputs += extra
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    n = min(samples, len(next(iter(evaluation.values()))))
    first = session.get_inputs()[0].shape[0]
    batch = first if isinstance(first, int) and first > 0 else min(32, n)
    chunks: list[list[np.ndarray]] = []
    for start in range(0, n, batch):
        idx = np.arange(start, start + batch) % n
        size = min(batch, n - start)
        chunks.append([o[:size] for o in session.run(outputs, {k: v[idx] for k, v in evaluation.items()})])
    merged = [np.concatenate([c[i] for c in chunks]) for i in range(len(outputs))]
    if expose:
        by_name = dict(zip(outputs, merged, strict=True))
        return [by_name.get(t, np.zeros(0)) for t in expose]
    return merged
