"""Test models built with onnx.helper, the location of the external mnist-cnn case, small ORT helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parents[3]
MNIST_DIR = REPO_ROOT.parent / "shared" / "eval" / "mnist-cnn"
MNIST_MODEL = MNIST_DIR / "mnist-cnn.onnx"
MNIST_IMAGES = MNIST_DIR / "t10k-images-idx3-ubyte.gz"

TINY_INPUT_SHAPE = (8, 8, 8)  # per sample: channels, height, width


def build_tiny_cnn(path: Path, *, opset: int = 17, batch: int | str = "batch", seed: int = 0) -> Path:
    """Conv(16x8x3x3) -> Relu -> Flatten -> Gemm(1024x32) -> Relu -> Gemm(32x10), batch dynamic by default.

    conv.weight (1,152 values) and fc1.weight (32,768) are above PruneMagnitude's default
    min_params; fc2.weight (320) and the biases are below it.
    """
    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        values = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        return numpy_helper.from_array(values, name)

    def bias(name: str, size: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0.0, 0.1, size=size).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g"]),
        helper.make_node("Relu", ["g"], ["h"]),
        helper.make_node("Gemm", ["h", "fc2.weight", "fc2.bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *TINY_INPUT_SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        initializer=[
            weight("conv.weight", 16, 8, 3, 3),
            bias("conv.bias", 16),
            weight("fc1.weight", 1024, 32),
            bias("fc1.bias", 32),
            weight("fc2.weight", 32, 10),
            bias("fc2.bias", 10),
        ],
    )
    return save(graph, path, opset=opset)


def save(graph: onnx.GraphProto, path: Path, *, opset: int = 17) -> Path:
    """Wrap ``graph`` in a checked model with an IR version ONNX Runtime accepts, and save it."""
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="edgeprof-tests")
    model.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_inputs(count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, *TINY_INPUT_SHAPE)).astype(np.float32)


def run_ort(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def default_opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float((reference.argmax(axis=1) == candidate.argmax(axis=1)).mean())


def build_tiny_attention(
    path: Path, *, seq: int = 8, dim: int = 16, fused_layer_norm: bool = False, seed: int = 0
) -> Path:
    """One pre-norm self-attention block: LayerNorm -> Q, K, V MatMuls -> MatMul(Q, Kᵀ) / √dim -> Softmax
    -> MatMul(., V) -> MatMul(W_o) + residual. Input ``hidden`` [batch, seq, dim], output ``out``.

    The layer norm is written out (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div) unless
    ``fused_layer_norm``, which uses ONNX's LayerNormalization (opset 17).
    """
    rng = np.random.default_rng(seed)

    def const(name: str, values: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)

    init = [const(f"w_{n}", rng.normal(0.0, dim**-0.5, size=(dim, dim))) for n in "qkvo"]
    init += [const("gamma", np.ones(dim)), const("beta", np.zeros(dim))]
    init += [const("two", 2.0), const("eps", 1e-5), const("scale", np.sqrt(dim))]
    if fused_layer_norm:
        norm = [helper.make_node("LayerNormalization", ["hidden", "gamma", "beta"], ["normed"], axis=-1, name="ln")]
    else:
        norm = [
            helper.make_node("ReduceMean", ["hidden"], ["mean"], axes=[-1], name="ln_mean"),
            helper.make_node("Sub", ["hidden", "mean"], ["centred"], name="ln_sub"),
            helper.make_node("Pow", ["centred", "two"], ["squared"], name="ln_pow"),
            helper.make_node("ReduceMean", ["squared"], ["var"], axes=[-1], name="ln_var"),
            helper.make_node("Add", ["var", "eps"], ["var_eps"], name="ln_add"),
            helper.make_node("Sqrt", ["var_eps"], ["std"], name="ln_sqrt"),
            helper.make_node("Div", ["centred", "std"], ["scaled"], name="ln_div"),
            helper.make_node("Mul", ["scaled", "gamma"], ["scaled_g"], name="ln_gamma"),
            helper.make_node("Add", ["scaled_g", "beta"], ["normed"], name="ln_beta"),
        ]
    attention = [
        helper.make_node("MatMul", ["normed", "w_q"], ["q"], name="q_proj"),
        helper.make_node("MatMul", ["normed", "w_k"], ["k"], name="k_proj"),
        helper.make_node("MatMul", ["normed", "w_v"], ["v"], name="v_proj"),
        helper.make_node("Transpose", ["k"], ["k_t"], perm=[0, 2, 1], name="k_t"),
        helper.make_node("MatMul", ["q", "k_t"], ["scores"], name="scores"),
        helper.make_node("Div", ["scores", "scale"], ["scores_scaled"], name="scores_scale"),
        helper.make_node("Softmax", ["scores_scaled"], ["probs"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["probs", "v"], ["context"], name="context"),
        helper.make_node("MatMul", ["context", "w_o"], ["projected"], name="o_proj"),
        helper.make_node("Add", ["projected", "hidden"], ["out"], name="residual"),
    ]
    graph = helper.make_graph(
        norm + attention,
        "tiny_attention",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", seq, dim])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", seq, dim])],
        initializer=init,
    )
    return save(graph, path, opset=17)
