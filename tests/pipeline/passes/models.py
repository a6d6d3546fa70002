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


RESIDUAL_INPUT_SHAPE = (3, 16, 16)  # per sample: channels, height, width
MLP_FEATURES = 24


class _Weights:
    """Seeded weight factory; ``dead`` channels (a fraction of each layer's outputs) get filters scaled
    by ``dead_scale`` (0: exactly zero) and, through their BatchNorm, an output of exactly 0 + noise."""

    def __init__(self, seed: int, dead: float, dead_scale: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.dead, self.dead_scale = dead, dead_scale
        self.tensors: list[onnx.TensorProto] = []

    def dead_set(self, channels: int, offset: int = 0) -> np.ndarray:
        """Which of ``channels`` outputs are dead: every k-th, shifted by ``offset`` (k = 1 / dead)."""
        count = int(round(self.dead * channels))
        return (np.arange(count) * channels // max(count, 1) + offset) % channels if count else np.zeros(0, int)

    def add(self, name: str, values: np.ndarray) -> str:
        self.tensors.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def filters(self, name: str, shape: tuple[int, ...], dead: np.ndarray, out_axis: int = 0) -> str:
        fan_in = int(np.prod(shape)) // shape[out_axis]
        values = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        index = [slice(None)] * len(shape)
        index[out_axis] = dead
        values[tuple(index)] *= self.dead_scale
        return self.add(name, values)

    def bias(self, name: str, size: int, dead: np.ndarray) -> str:
        values = self.rng.normal(0.0, 0.1, size=size)
        values[dead] *= self.dead_scale
        return self.add(name, values)

    def batchnorm(self, name: str, x: str, out: str, size: int, dead: np.ndarray) -> onnx.NodeProto:
        scale = self.rng.uniform(0.5, 1.5, size)
        shift = self.rng.normal(0.0, 0.1, size)
        mean = self.rng.normal(0.0, 0.1, size)
        shift[dead] = mean[dead] * scale[dead] / np.sqrt(1.0 + 1e-5)  # a zero input gives a zero output
        params = [
            self.add(f"{name}.scale", scale),
            self.add(f"{name}.shift", shift),
            self.add(f"{name}.mean", mean),
            self.add(f"{name}.var", np.ones(size)),
        ]
        return helper.make_node("BatchNormalization", [x, *params], [out], name=name, epsilon=1e-5)


def build_residual_cnn(
    path: Path,
    *,
    dead: float = 0.25,
    dead_scale: float = 0.0,
    skip_dead_offset: int = 0,
    batch: int | str = "batch",
    seed: int = 0,
) -> Path:
    """A residual CNN with every structure channel pruning must keep consistent, input [batch, 3, 16, 16]:

    stem Conv 3->16 + BN + Relu (``a``); block Conv 16->16 + BN + Relu, Conv 16->16 + BN, Add ``a``
    (residual), Relu; depthwise Conv 3x3 (group 16) + BN + Relu; two branches Conv 16->8 (1x1) and
    Conv 16->8 (3x3), each + Relu, Concat; Mul by a per-channel constant [1, 16, 1, 1]; Conv 16->32 +
    Relu; GlobalAveragePool, Flatten, Gemm 32->10 (``logits``).

    ``dead`` of each layer's output channels (the same indices in the stem and the block's second Conv,
    whose outputs are added) have filters and biases scaled by ``dead_scale``: 0 makes those channels
    exactly zero all the way to their readers, so removing them leaves the outputs unchanged.
    ``skip_dead_offset`` shifts the block's second Conv's dead channels away from the stem's, so that
    only pruning both branches of the Add with one keep-set keeps them consistent.
    """
    w = _Weights(seed, dead, dead_scale)
    shared = w.dead_set(16)  # stem and block.conv2 are added: their dead channels must coincide
    skip = w.dead_set(16, skip_dead_offset)
    block1, branch1, branch2, expand = w.dead_set(16, 1), w.dead_set(8), w.dead_set(8, 1), w.dead_set(32)
    nodes = [
        helper.make_node(
            "Conv", ["input", w.filters("stem.w", (16, 3, 3, 3), shared)], ["s0"], name="stem", pads=[1, 1, 1, 1]
        ),
        w.batchnorm("stem.bn", "s0", "s1", 16, shared),
        helper.make_node("Relu", ["s1"], ["a"], name="stem.relu"),
        helper.make_node(
            "Conv",
            ["a", w.filters("block.conv1.w", (16, 16, 3, 3), block1), w.bias("block.conv1.b", 16, block1)],
            ["b0"],
            name="block.conv1",
            pads=[1, 1, 1, 1],
        ),
        w.batchnorm("block.bn1", "b0", "b1", 16, block1),
        helper.make_node("Relu", ["b1"], ["b2"], name="block.relu1"),
        helper.make_node(
            "Conv",
            ["b2", w.filters("block.conv2.w", (16, 16, 3, 3), skip)],
            ["b3"],
            name="block.conv2",
            pads=[1, 1, 1, 1],
        ),
        w.batchnorm("block.bn2", "b3", "b4", 16, skip),
        helper.make_node("Add", ["b4", "a"], ["b5"], name="block.add"),
        helper.make_node("Relu", ["b5"], ["r"], name="block.relu2"),
        helper.make_node(
            "Conv",
            ["r", w.filters("dw.w", (16, 1, 3, 3), shared), w.bias("dw.b", 16, shared)],
            ["d0"],
            name="dw",
            group=16,
            pads=[1, 1, 1, 1],
        ),
        w.batchnorm("dw.bn", "d0", "d1", 16, shared),
        helper.make_node("Relu", ["d1"], ["d"], name="dw.relu"),
        helper.make_node(
            "Conv",
            ["d", w.filters("branch1.w", (8, 16, 1, 1), branch1), w.bias("branch1.b", 8, branch1)],
            ["c0"],
            name="branch1",
        ),
        helper.make_node("Relu", ["c0"], ["c1"], name="branch1.relu"),
        helper.make_node(
            "Conv",
            ["d", w.filters("branch2.w", (8, 16, 3, 3), branch2), w.bias("branch2.b", 8, branch2)],
            ["c2"],
            name="branch2",
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["c2"], ["c3"], name="branch2.relu"),
        helper.make_node("Concat", ["c1", "c3"], ["cat"], name="concat", axis=1),
        helper.make_node(
            "Mul", ["cat", w.add("channel_scale", np.linspace(0.5, 2.0, 16).reshape(1, 16, 1, 1))], ["m"], name="scale"
        ),
        helper.make_node(
            "Conv",
            ["m", w.filters("expand.w", (32, 16, 1, 1), expand), w.bias("expand.b", 32, expand)],
            ["e0"],
            name="expand",
        ),
        helper.make_node("Relu", ["e0"], ["e1"], name="expand.relu"),
        helper.make_node("GlobalAveragePool", ["e1"], ["g"], name="pool"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
        helper.make_node(
            "Gemm",
            ["f", w.filters("head.w", (10, 32), np.zeros(0, int)), w.bias("head.b", 10, np.zeros(0, int))],
            ["logits"],
            name="head",
            transB=1,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "residual_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *RESIDUAL_INPUT_SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        initializer=w.tensors,
    )
    return save(graph, path)


def build_mlp(path: Path, *, dead: float = 0.25, dead_scale: float = 0.0, seed: int = 0) -> Path:
    """MLP on [batch, 24]: Gemm 24->64 + Relu, MatMul 64->32 (+ Add bias) + Relu, Gemm 32->10 (``logits``).

    ``dead`` of the first two layers' output features are scaled by ``dead_scale`` (0: exactly zero).
    The first Gemm stores its weight as [out, in] (transB=1), the MatMul as [in, out].
    """
    w = _Weights(seed, dead, dead_scale)
    hidden1, hidden2 = w.dead_set(64), w.dead_set(32, 1)
    nodes = [
        helper.make_node(
            "Gemm",
            ["x", w.filters("fc1.w", (64, MLP_FEATURES), hidden1), w.bias("fc1.b", 64, hidden1)],
            ["h0"],
            name="fc1",
            transB=1,
        ),
        helper.make_node("Relu", ["h0"], ["h1"], name="relu1"),
        helper.make_node("MatMul", ["h1", w.filters("fc2.w", (64, 32), hidden2, out_axis=1)], ["h2"], name="fc2"),
        helper.make_node("Add", ["h2", w.bias("fc2.b", 32, hidden2)], ["h3"], name="fc2.bias"),
        helper.make_node("Relu", ["h3"], ["h4"], name="relu2"),
        helper.make_node(
            "Gemm",
            ["h4", w.filters("fc3.w", (32, 10), np.zeros(0, int), out_axis=1), w.bias("fc3.b", 10, [])],
            ["logits"],
            name="fc3",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", MLP_FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=w.tensors,
    )
    return save(graph, path)


def random_inputs(shape: tuple[int, ...], count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype(np.float32)


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
