"""Train the bundled demo model (a small CNN on scikit-learn's handwritten digits) and write its data.

What it does
    Loads scikit-learn's bundled copy of the UCI optdigits test set (1797 8x8 images, shipped inside
    the scikit-learn wheel, so nothing is downloaded), upsamples every image to 32x32, splits the set
    stratified with a fixed seed into train (60 %), calibration (10 %) and eval (30 %), trains a
    five-layer CNN on the train split only, and writes:

    * ``pipeline/demo_model/digits_cnn.onnx``: opset 17, input ``image`` float32 ``[batch, 1, 32, 32]``
      (dynamic batch), output ``logits`` float32 ``[batch, 10]``, BatchNorm folded into the convs,
      metadata_props ``edgeprof.dataset``, ``edgeprof.preprocessing``, ``edgeprof.flops_per_inference``.
    * ``calibration_data/digits/calib.npz``: ``image`` (N, 1, 32, 32) float32 and ``labels`` int64,
      used for INT8 calibration; never trained on.
    * ``calibration_data/digits/eval.npz``: ``image`` and ``labels`` int64; held out, never trained on.

    The npz files hold model-ready inputs: preprocessing is done here, once, so that any runtime can
    feed them unchanged. Calibration and eval are disjoint from each other and from train.

Preprocessing (also written into the model's metadata)
    pixels 0..16 -> /16 -> [0, 1]; 8x8 -> 32x32 bilinear (torch.nn.functional.interpolate,
    align_corners=False, no antialias); then (x - 0.5) / 0.5, so inputs lie in [-1, 1].

FLOPs
    Counted from the exported ONNX graph: 2 FLOPs per multiply-accumulate of every Conv and Gemm/MatMul
    node, at batch 1. Bias adds, ReLU, pooling are not counted (they add well under 1 %).

How to run
    It is NOT run by the demo, the tests or the CI: its outputs are committed. It needs torch,
    scikit-learn, onnx and numpy, which the project itself does not depend on; use a separate venv::

        python3 -m venv /tmp/trainvenv
        /tmp/trainvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
        /tmp/trainvenv/bin/pip install scikit-learn onnx numpy
        /tmp/trainvenv/bin/python scripts/train_demo_model.py

    Defaults write into the repository (``--out-model``, ``--out-data`` to change that). It runs on two
    CPU threads in one to two minutes (15 epochs of about 2.5 s each on an idle AMD EPYC).

Reproducing
    Seeds (Python, NumPy, torch) and deterministic torch algorithms are fixed, and the npz files are
    written with fixed zip timestamps, so the same versions of torch / scikit-learn / numpy on the same
    CPU give byte-identical npz files; the ONNX weights may differ in the last bits across torch
    versions or CPUs. The committed files were produced with torch 2.13.0+cpu, scikit-learn 1.9.1,
    numpy 2.4.6, onnx 1.23.2, Python 3.11, with the default arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import shape_inference
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "pipeline" / "demo_model" / "digits_cnn.onnx"
DEFAULT_DATA = REPO / "calibration_data" / "digits"

SIZE = 32
OPSET = 17
PREPROCESSING = (
    "sklearn load_digits 8x8 uint 0..16; x/16 -> [0,1]; bilinear resize to 32x32 "
    "(torch interpolate, align_corners=False, no antialias); (x-0.5)/0.5 -> [-1,1]; "
    "layout NCHW float32 [batch,1,32,32]"
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def preprocess(images_8x8: np.ndarray) -> np.ndarray:
    """(N, 8, 8) values 0..16 -> (N, 1, 32, 32) float32 in [-1, 1]."""
    x = torch.from_numpy(images_8x8.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=False)
    x = (x - 0.5) / 0.5
    return np.ascontiguousarray(x.numpy(), dtype=np.float32)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DigitsCNN(nn.Module):
    """32x32x1 -> 10 logits; about 189 MFLOPs per image, 0.54 M parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(1, 32),
            conv_bn_relu(32, 64),
            nn.MaxPool2d(2),  # 16x16
            conv_bn_relu(64, 128),
            conv_bn_relu(128, 128),
            nn.MaxPool2d(2),  # 8x8
            conv_bn_relu(128, 256),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (on the 32x32 grid), filled with the background value -1."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx = torch.randint(0, 5, (n,), generator=gen)
    dy = torch.randint(0, 5, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i] : dy[i] + SIZE, dx[i] : dx[i] + SIZE]
    return out


def split(seed: int):
    digits = load_digits()
    images = digits.images  # (1797, 8, 8) float64, values 0..16
    labels = digits.target.astype(np.int64)
    idx = np.arange(len(labels))
    idx_rest, idx_eval = train_test_split(idx, test_size=0.30, stratify=labels, random_state=seed)
    # 10 % of the whole set for calibration: 1/7 of the remaining 70 %.
    idx_train, idx_calib = train_test_split(idx_rest, test_size=1 / 7, stratify=labels[idx_rest], random_state=seed)
    assert not (set(idx_train) & set(idx_calib) or set(idx_train) & set(idx_eval) or set(idx_calib) & set(idx_eval))
    x = preprocess(images)
    return {
        name: (x[np.sort(ix)], labels[np.sort(ix)])
        for name, ix in (("train", idx_train), ("calib", idx_calib), ("eval", idx_eval))
    }


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    batch = 64
    steps_per_epoch = (len(yt) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, epochs=epochs, steps_per_epoch=steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        t0 = time.perf_counter()
        for s in range(steps_per_epoch):
            ix = perm[s * batch : (s + 1) * batch]
            xb, yb = augment(xt[ix], gen), yt[ix]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            total += len(yb)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f} train acc {correct / total:.4f} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.from_numpy(x)).numpy()


def count_flops(model: onnx.ModelProto) -> int:
    """2 x MACs of Conv, Gemm and MatMul nodes at batch 1, from shape inference."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inp = m.graph.input[0]
    inp.type.tensor_type.shape.dim[0].ClearField("dim_param")
    inp.type.tensor_type.shape.dim[0].dim_value = 1
    m = shape_inference.infer_shapes(m, strict_mode=True)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]  # (Cout, Cin/groups, kH, kW)
            out = shapes[node.output[0]]
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            out = shapes[node.output[0]]
            macs += int(np.prod(out)) * a[-1]
    return 2 * macs


def export(model: nn.Module, path: Path) -> int:
    model.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The classic (TorchScript) exporter is deliberate: it folds BatchNorm and needs no onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, SIZE, SIZE),),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    ops = sorted({n.op_type for n in proto.graph.node})
    if "BatchNormalization" in ops:
        raise SystemExit(f"BatchNorm was not folded into the convolutions: {ops}")
    flops = count_flops(proto)
    proto.doc_string = "edgeprof demo model: small CNN classifying sklearn digits (10 classes)"
    for key, value in (
        ("edgeprof.dataset", "sklearn-digits"),
        ("edgeprof.preprocessing", PREPROCESSING),
        ("edgeprof.flops_per_inference", str(flops)),
        ("edgeprof.classes", "0,1,2,3,4,5,6,7,8,9"),
        ("edgeprof.license_data", "UCI optdigits, CC BY 4.0"),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    print(f"ops: {ops}")
    return flops


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so that the bytes are reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(path: Path, x_eval: np.ndarray, torch_logits: np.ndarray) -> float:
    """Re-load the saved model with onnx.reference and compare to torch on a few eval samples."""
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(str(path))
    (out,) = ref.run(None, {"image": x_eval[:8]})
    return float(np.abs(out - torch_logits[:8]).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-model", type=Path, default=DEFAULT_MODEL, help="ONNX file to write")
    ap.add_argument("--out-data", type=Path, default=DEFAULT_DATA, help="folder for calib.npz, eval.npz")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(2)
    seed_everything(args.seed)
    t_start = time.perf_counter()
    data = split(args.seed)
    for name, (x, y) in data.items():
        print(f"{name}: {x.shape} {x.dtype} labels {np.bincount(y, minlength=10).tolist()}")

    model = DigitsCNN()
    n_params = sum(p.numel() for p in model.parameters())
    train(model, *data["train"], epochs=args.epochs, seed=args.seed)

    x_eval, y_eval = data["eval"]
    logits = predict(model, x_eval)
    top1 = float((logits.argmax(1) == y_eval).mean())
    calib_top1 = float((predict(model, data["calib"][0]).argmax(1) == data["calib"][1]).mean())
    print(f"torch FP32 top-1: eval {top1:.4f} ({len(y_eval)} samples), calib {calib_top1:.4f}")

    flops = export(model, args.out_model)
    diff = verify(args.out_model, x_eval, logits)
    print(f"onnx.reference vs torch max |diff| on 8 eval samples: {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("exported model disagrees with torch")

    save_npz(args.out_data / "calib.npz", {"image": data["calib"][0], "labels": data["calib"][1]})
    save_npz(args.out_data / "eval.npz", {"image": x_eval, "labels": y_eval})

    print(f"parameters: {n_params} ({n_params * 4 / 1e6:.2f} MB fp32)")
    print(f"FLOPs per inference (2 x MACs, batch 1): {flops} ({flops / 1e6:.1f} MFLOPs)")
    for p in (args.out_model, args.out_data / "calib.npz", args.out_data / "eval.npz"):
        print(f"{p}: {p.stat().st_size} bytes sha256 {sha256(p)}")
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
