"""A generated BERT-shaped sentence encoder, so that transformer behaviour can be tested without a download.

The default shape is that of a 6-layer MiniLM sentence encoder (hidden 384, 6 heads, FFN 1536,
128 tokens): token + position embeddings and LayerNorm, then per layer multi-head self-attention
(the attention mask applied as an additive -10000 bias, as exported BERTs do), residual Add,
LayerNormalization, an erf-form GELU feed-forward, residual Add, LayerNormalization (post-LN);
masked mean pooling, then L2 normalisation, gives the ``embedding`` output.

The weights are random (scaled Gaussian), so the embedding means nothing; what matters is that it
exercises quantization like an encoder. With ``outliers=True`` a few hidden channels get a large
LayerNorm gain in every layer, as pretrained transformers have (the "outlier dimensions" of
BERT-family models; design.md, "Default INT8 settings can wreck a transformer").

Measured here with ONNX Runtime 1.32 defaults (cosine to FP32, outliers on): static INT8 0.954 and
dynamic INT8 0.997 on the 2-layer, hidden-64 test instance; 0.975 and 0.995 at the default size.
Static quantizes every activation per tensor, and most of its loss comes from the Softmax outputs:
excluding them and the mask Add from quantization gives 0.99+. These random weights are gentler
than a pretrained encoder's (0.34 against 0.96 in design.md), and at these sizes the outlier gains
do not by themselves widen the static loss: compare builds by measuring, as the pipeline does.

Opset 17 with the erf form of GELU, so that both ONNX Runtime and OpenVINO load it (``Gelu``
is an opset 20 operator).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["CLS_ID", "OPSET", "PAD_ID", "SEP_ID", "build_encoder", "make_token_data"]

OPSET = 17
PAD_ID, CLS_ID, SEP_ID = 0, 1, 2  # BERT-style special tokens: padding, start, end of a sentence
_FIRST_WORD_ID = 5  # ids below this are reserved for special tokens
_MASK_BIAS = -10000.0  # added to the scores of padded keys, as HF BERT exports do
_LN_EPS = 1e-12
_OUTLIER_GAIN = 24.0  # LayerNorm gain on outlier channels; the others are about 1


def build_encoder(
    path: str | Path,
    *,
    layers: int = 6,
    hidden: int = 384,
    heads: int = 6,
    intermediate: int = 1536,
    seq_len: int = 128,
    vocab: int = 8000,
    seed: int = 0,
    outliers: bool = True,
) -> Path:
    """Write the encoder to ``path`` and return it.

    Inputs ``input_ids`` and ``attention_mask``: int64 ``[batch, sequence]``, both axes dynamic,
    sequences of at most ``seq_len`` tokens. Output ``embedding``: float32 ``[batch, hidden]``,
    unit L2 norm. About ``layers * (4 * hidden**2 + 2 * hidden * intermediate) + (vocab + seq_len)
    * hidden`` parameters (13.7 M, 55 MB at the defaults).
    """
    for name, value in (("layers", layers), ("hidden", hidden), ("heads", heads), ("intermediate", intermediate)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    if seq_len < 2 or vocab <= _FIRST_WORD_ID:
        raise ValueError(f"seq_len must be >= 2 and vocab > {_FIRST_WORD_ID} (got {seq_len}, {vocab})")
    g = _Graph(np.random.default_rng(seed))
    outlier_channels = _outlier_channels(hidden, seed) if outliers else np.array([], dtype=np.int64)

    ids, mask = "input_ids", "attention_mask"
    seq = g.op("Shape", [ids], start=1, end=2)
    words = g.op("Gather", [g.gaussian("embeddings.word", (vocab, hidden), 0.02), ids])
    positions = g.op(
        "Slice",
        [g.gaussian("embeddings.position", (seq_len, hidden), 0.02), g.const("zero", [0]), seq, g.const("axis0", [0])],
    )
    x = g.layer_norm("embeddings.ln", g.op("Add", [words, positions]), hidden, outlier_channels)

    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.scalar("one", 1.0), mask_f]), g.scalar("mask_bias", _MASK_BIAS)])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", [1, 2])])  # [batch, 1, 1, keys]
    for i in range(layers):
        x = _encoder_layer(g, f"layer{i}", x, bias, hidden, heads, intermediate, outlier_channels)

    mask_3d = g.op("Unsqueeze", [mask_f, g.const("axis2", [2])])  # [batch, seq, 1]
    axis1 = g.const("axis1", [1])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask_3d]), axis1], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask_3d, axis1], keepdims=0), g.scalar("min_count", 1e-9)])
    pooled = g.op("Div", [summed, count])
    norm = g.op("Max", [g.op("ReduceL2", [pooled], axes=[1], keepdims=1), g.scalar("min_norm", 1e-12)])
    g.op("Div", [pooled, norm], output="embedding")

    graph = helper.make_graph(
        g.nodes,
        "edgeprof_encoder",
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgeprof")
    model.ir_version = 8  # opset 17's IR version: older ONNX Runtime and OpenVINO builds load it
    model.doc_string = (
        f"Generated BERT-shaped encoder (random weights): layers={layers} hidden={hidden} heads={heads} "
        f"intermediate={intermediate} seq_len={seq_len} vocab={vocab} seed={seed} outliers={outliers}"
    )
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def make_token_data(n: int, seq_len: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` tokenised "sentences" for the encoder: ``{"input_ids", "attention_mask"}``, int64 ``[n, seq_len]``.

    Like a tokenizer's padded batch: ``[CLS] words [SEP]`` then ``[PAD]``; lengths vary (log-normal,
    median about a third of ``seq_len``, the longest truncated to it); word ids follow a Zipf-like
    law, as word frequencies do. Save them with ``np.savez(path, **data)`` for ``--calib``/``--eval``.
    """
    if n < 1 or seq_len < 2 or vocab <= _FIRST_WORD_ID:
        raise ValueError(f"need n >= 1, seq_len >= 2, vocab > {_FIRST_WORD_ID} (got {n}, {seq_len}, {vocab})")
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.round(rng.lognormal(np.log(seq_len / 3), 0.6, size=n)), 3, seq_len).astype(np.int64)
    lengths = np.minimum(lengths, seq_len)
    ranks = np.arange(1, vocab - _FIRST_WORD_ID + 1, dtype=np.float64)
    weights = ranks**-1.1
    words = rng.choice(vocab - _FIRST_WORD_ID, size=(n, seq_len), p=weights / weights.sum()) + _FIRST_WORD_ID
    positions = np.arange(seq_len)[None, :]
    mask = (positions < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, words, PAD_ID).astype(np.int64)
    ids[:, 0] = CLS_ID
    ids[np.arange(n), lengths - 1] = SEP_ID
    return {"input_ids": ids, "attention_mask": mask}


def _encoder_layer(
    g: _Graph, name: str, x: str, bias: str, hidden: int, heads: int, intermediate: int, outliers: np.ndarray
) -> str:
    head_dim = hidden // heads
    split = g.const(f"{name}.split_heads", [0, 0, heads, head_dim])

    def projection(part: str, perm: list[int]) -> str:
        y = g.linear(f"{name}.attn.{part}", x, hidden, hidden)
        return g.op("Transpose", [g.op("Reshape", [y, split])], perm=perm)

    q = projection("q", [0, 2, 1, 3])  # [batch, heads, seq, head_dim]
    k = projection("k", [0, 2, 3, 1])  # [batch, heads, head_dim, seq]
    v = projection("v", [0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k]), g.scalar(f"{name}.attn.scale", 1.0 / math.sqrt(head_dim))])
    probs = g.op("Softmax", [g.op("Add", [scores, bias])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(f"{name}.merge_heads", [0, 0, hidden])])
    attended = g.linear(f"{name}.attn.out", context, hidden, hidden)
    x = g.layer_norm(f"{name}.attn.ln", g.op("Add", [x, attended]), hidden, outliers)

    h = g.linear(f"{name}.ffn.in", x, hidden, intermediate)
    erf = g.op("Erf", [g.op("Mul", [h, g.scalar(f"{name}.ffn.inv_sqrt2", 1.0 / math.sqrt(2.0))])])
    gelu = g.op(
        "Mul",
        [g.op("Mul", [h, g.scalar(f"{name}.ffn.half", 0.5)]), g.op("Add", [erf, g.scalar(f"{name}.ffn.one", 1.0)])],
    )
    out = g.linear(f"{name}.ffn.out", gelu, intermediate, hidden)
    return g.layer_norm(f"{name}.ffn.ln", g.op("Add", [x, out]), hidden, outliers)


def _outlier_channels(hidden: int, seed: int) -> np.ndarray:
    """The same few channels in every layer, as in pretrained BERTs: 1 per 64, at least 2."""
    count = min(hidden, max(2, hidden // 64))
    return np.sort(np.random.default_rng(seed + 1).choice(hidden, size=count, replace=False))


class _Graph:
    """Collects nodes and initializers; every tensor gets a unique, readable name."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: object) -> str:
        self._count += 1
        out = output or f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self._count}", **attrs))
        return out

    def tensor(self, name: str, values: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(values, name))
        return name

    def const(self, name: str, values: list[int]) -> str:
        return self.tensor(name, np.asarray(values, dtype=np.int64))

    def scalar(self, name: str, value: float) -> str:
        return self.tensor(name, np.asarray(value, dtype=np.float32))

    def gaussian(self, name: str, shape: tuple[int, ...], std: float) -> str:
        return self.tensor(name, self.rng.normal(0.0, std, size=shape).astype(np.float32))

    def linear(self, name: str, x: str, fan_in: int, fan_out: int) -> str:
        weight = self.gaussian(f"{name}.weight", (fan_in, fan_out), 1.0 / math.sqrt(fan_in))
        return self.op("Add", [self.op("MatMul", [x, weight]), self.gaussian(f"{name}.bias", (fan_out,), 0.02)])

    def layer_norm(self, name: str, x: str, hidden: int, outliers: np.ndarray) -> str:
        gain = (1.0 + self.rng.normal(0.0, 0.05, size=hidden)).astype(np.float32)
        gain[outliers] = _OUTLIER_GAIN * (1.0 + 0.1 * self.rng.standard_normal(outliers.size))
        shift = self.rng.normal(0.0, 0.02, size=hidden).astype(np.float32)
        inputs = [x, self.tensor(f"{name}.gamma", gain), self.tensor(f"{name}.beta", shift)]
        return self.op("LayerNormalization", inputs, axis=-1, epsilon=_LN_EPS)
