"""Benchmark: edgeprof's front against what the standard tools give with their documented defaults.

For each model (the bundled digits CNN, ``../shared/eval/mnist-cnn`` on real MNIST, and a transformer
encoder the project generates: attention, LayerNorm, GELU, two int64 inputs, an embedding output),
this builds the anchors the way a user would by hand:

- ONNX Runtime FP32 (``InferenceSession`` defaults), ``quantize_dynamic`` defaults,
  ``quant_pre_process`` + ``quantize_static`` defaults;
- OpenVINO FP32 (``convert_model`` + ``compile_model`` defaults), ``nncf.quantize`` defaults, and for
  the encoder ``nncf.quantize(model_type=TRANSFORMER)``;

runs ``edgeprof optimize --search wide`` on the same model and data, and then re-times every anchor
and every variant on edgeprof's Pareto front **in one process, round-robin** (A, B, C, A, B, C, ...)
with one timing loop, at batch 1 and batch 8, and scores each on the same evaluation data with the
agent's own scoring (top-1 against labels, cosine to the FP32 outputs for the encoder). This VM is
noisy, so only the medians of interleaved rounds are compared, as ratios.

Checks (issue 7): for every anchor, the front holds a variant with at least 0.95x its throughput at
batch 1 and at batch 8 and no worse quality (top-1 within 0.5 points, cosine within 0.002); and among
builds within 0.5 points of FP32 (cosine >= 0.995), the best edgeprof throughput is at least 1.1x the
best anchor's, at each batch size. Writes ``scripts/bench/optimisation_vs_anchors.md``; where
edgeprof loses, the file says so.

    .venv/bin/python scripts/bench/optimisation_vs_anchors.py [--models demo,mnist,encoder] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from agent.quality import output_quality  # noqa: E402
from agent.runtimes import LocalArtifact, get_runtime  # noqa: E402
from calibration_data.loaders import load_dataset  # noqa: E402
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH  # noqa: E402
from pipeline.plan import plan_variants  # noqa: E402
from pipeline.store import ArtifactStore  # noqa: E402

MNIST = REPO.parent / "shared" / "eval" / "mnist-cnn"
OUT = Path(__file__).with_suffix(".md")
BATCHES = (1, 8)
TOP1_TOLERANCE = 0.005  # 0.5 points
COSINE_TOLERANCE = 0.002
QUALITY_BAR_TOP1 = 0.005  # within 0.5 points of FP32
QUALITY_BAR_COSINE = 0.995
SEARCH = dict(
    runtimes="onnxruntime,openvino", precisions="fp32,int8-static,int8-dynamic,fp16", search="wide", prune="none"
)


@dataclass
class Case:
    name: str
    model: Path
    calib: dict[str, np.ndarray]
    evals: dict[str, np.ndarray]
    labels: np.ndarray | None
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def metric(self) -> str:
        return "top1" if self.labels is not None else "cosine"


@dataclass
class Build:
    name: str
    source: str  # "anchor" or "edgeprof"
    infer: Callable[[dict[str, np.ndarray]], Any]
    note: str = ""
    runtime: Any = None  # edgeprof's runtime object, for queries in flight
    concurrency: int = 1
    quality: float = float("nan")
    tput: dict[int, list[float]] = field(default_factory=lambda: {b: [] for b in BATCHES})

    def median(self, batch: int) -> float:
        return statistics.median(self.tput[batch]) if self.tput[batch] else float("nan")

    def spread(self, batch: int) -> float:
        xs = self.tput[batch]
        return (max(xs) - min(xs)) / statistics.median(xs) if len(xs) > 1 else 0.0


# --- the cases --------------------------------------------------------------------------------------


def demo_case() -> Case:
    calib, evals = load_dataset(DEMO_CALIB_PATH), load_dataset(DEMO_EVAL_PATH)
    return Case("digits CNN (bundled demo)", DEMO_MODEL_PATH, dict(calib.inputs), dict(evals.inputs), evals.labels)


def mnist_case(work: Path) -> Case:
    data = load_dataset(MNIST / "t10k-images-idx3-ubyte.gz", preprocess={"mean": 0.5, "std": 0.5})
    (name,) = data.inputs  # "" for a one-input model: bind it to the model's input name
    import onnx

    input_name = onnx.load(str(MNIST / "mnist-cnn.onnx")).graph.input[0].name
    images = data.inputs[name]
    return Case(
        "mnist-cnn (real MNIST, opset 11)",
        MNIST / "mnist-cnn.onnx",
        {input_name: images[2000:2300]},
        {input_name: images[:2000]},
        data.labels[:2000],
    )


def encoder_case(work: Path) -> Case:
    from pipeline.demo_model.encoder import build_encoder, make_token_data

    path = build_encoder(work / "encoder.onnx", layers=6, hidden=384, heads=6, intermediate=1536, seq_len=64)
    return Case(
        "transformer encoder (generated: 6 layers, hidden 384, seq 64, two int64 inputs, embedding output)",
        path,
        make_token_data(300, 64, 8000, seed=1),
        make_token_data(256, 64, 8000, seed=2),
        None,
    )


# --- the anchors, each with its tool's documented defaults -------------------------------------------


class Reader:
    def __init__(self, calib: dict[str, np.ndarray]) -> None:
        self.items = [{k: v[i : i + 1] for k, v in calib.items()} for i in range(len(next(iter(calib.values()))))]
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.items):
            return None
        self.i += 1
        return self.items[self.i - 1]

    def rewind(self) -> None:
        self.i = 0


def anchors(case: Case, work: Path) -> list[Build]:
    import nncf
    import onnxruntime as ort
    import openvino as ov
    from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(Reader, CalibrationDataReader):
        pass

    def ort_build(path: Path) -> Callable[[dict[str, np.ndarray]], Any]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda feeds: session.run(None, feeds)

    out = [Build("ORT FP32", "anchor", ort_build(case.model))]
    dyn = work / "anchor_dynamic.onnx"
    quantize_dynamic(str(case.model), str(dyn))
    out.append(Build("ORT quantize_dynamic", "anchor", ort_build(dyn)))
    pre, static = work / "anchor_pre.onnx", work / "anchor_static.onnx"
    quant_pre_process(str(case.model), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(static), _Reader(case.calib))
    out.append(Build("ORT quant_pre_process + quantize_static", "anchor", ort_build(static)))

    core = ov.Core()
    ov_model = ov.convert_model(str(case.model))

    def ov_build(model: Any) -> Callable[[dict[str, np.ndarray]], Any]:
        compiled = core.compile_model(model, "CPU")
        request = compiled.create_infer_request()
        return lambda feeds: request.infer(feeds)

    out.append(Build("OpenVINO FP32", "anchor", ov_build(ov_model)))
    items = Reader(case.calib).items
    dataset = nncf.Dataset(items)
    out.append(Build("nncf.quantize", "anchor", ov_build(nncf.quantize(ov.convert_model(str(case.model)), dataset))))
    if case.labels is None:
        quantized = nncf.quantize(ov.convert_model(str(case.model)), dataset, model_type=nncf.ModelType.TRANSFORMER)
        out.append(Build("nncf.quantize(model_type=TRANSFORMER)", "anchor", ov_build(quantized)))
    return out


# --- edgeprof ---------------------------------------------------------------------------------------


def edgeprof_front(case: Case, work: Path) -> tuple[list[Build], dict[str, Any]]:
    calib, evals = work / "calib.npz", work / "eval.npz"
    np.savez(calib, **case.calib)
    arrays = dict(case.evals)
    if case.labels is not None:
        arrays["labels"] = case.labels
    np.savez(evals, **arrays)
    out = work / "edgeprof"
    budget = QUALITY_BAR_TOP1 if case.labels is not None else 1 - QUALITY_BAR_COSINE
    cmd = [
        str(Path(sys.executable).parent / "edgeprof"), "optimize", str(case.model), "--calib", str(calib),
        "--eval", str(evals), "--out", str(out), "--batch", ",".join(map(str, BATCHES)),
        "--runtimes", SEARCH["runtimes"], "--precisions", SEARCH["precisions"], "--search", SEARCH["search"],
        "--max-accuracy-loss", str(budget), "--min-duration", "1", "--concurrency", "1,2",
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"edgeprof optimize failed on {case.name}:\n{proc.stderr}\n{proc.stdout[-3000:]}")
    doc = json.loads((out / "results.json").read_text())
    # a front "build" is a variant at a number of queries in flight: re-timed at both batch sizes
    front_ids = {(r["variant_id"], r.get("concurrency", 1)) for r in doc["variants"] if r.get("pareto_rank") == 0}
    plan = plan_variants(
        SEARCH["precisions"].split(","), SEARCH["runtimes"].split(","), search=SEARCH["search"]
    )  # the same plan edgeprof made: it gives each variant's runtime options
    specs = {v.id: v for v in plan.variants}
    store = ArtifactStore(out / "artifacts")
    builds = []
    for vid, concurrency in sorted(front_ids):
        record = next(r for r in doc["variants"] if r["variant_id"] == vid)
        build = store.get_build(record["artifact_sha256"])
        assert build is not None, vid
        folder = work / "front" / vid
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for m in build.manifest.members:
            target = folder / m.file_name
            target.write_bytes(build.files[m.role].read_bytes())
            files[m.role] = target
        runtime = get_runtime(specs[vid].runtime)(dict(specs[vid].runtime_options))
        runtime.load(LocalArtifact(build.kind, files, dict(build.manifest.settings)))
        name = vid if concurrency == 1 else f"{vid} ({concurrency} in flight)"
        note = _settings_note(runtime.settings()) + (f", {concurrency} queries in flight" if concurrency > 1 else "")
        builds.append(Build(name, "edgeprof", runtime.infer, note, runtime, concurrency))
    info = {
        "wall_s": wall,
        "variants": len({r["variant_id"] for r in doc["variants"]}),
        "rejected": [f for f in doc["failed"] if "rejected on the host" in f["error"]],
        "failed": [f for f in doc["failed"] if "rejected on the host" not in f["error"]],
        "front": sorted(f"{v}@c{c}" for v, c in front_ids),
        "recommended": doc.get("recommended"),
    }
    return builds, info


def _settings_note(settings: dict[str, Any]) -> str:
    keep = ("intra_op_num_threads", "performance_hint", "num_streams", "inference_num_threads", "inference_precision")
    return ", ".join(f"{k}={settings[k]}" for k in keep if settings.get(k) is not None)


# --- measuring --------------------------------------------------------------------------------------


def score(case: Case, build: Build) -> float:
    n = len(next(iter(case.evals.values())))
    outs = []
    for start in range(0, n, 8):
        idx = np.arange(start, start + 8) % n
        outs.append(np.asarray(build.infer({k: v[idx] for k, v in case.evals.items()})[0])[: min(8, n - start)])
    q = output_quality(np.concatenate(outs), case.labels, case.reference)
    return float(q["top1"] if case.labels is not None else q["cosine"])


def timed(build: Build, feeds: list[dict[str, np.ndarray]], window_s: float, warmup_s: float) -> float:
    """Queries per second over one window: one at a time, or with the build's queries in flight
    through the runtime's own concurrent path (the agent's)."""
    if build.concurrency > 1:
        from agent.window import WindowPlan

        build.runtime.run_concurrent(feeds, build.concurrency, WindowPlan.build(warmup_s, 4, 4))
        times = build.runtime.run_concurrent(feeds, build.concurrency, WindowPlan.build(window_s, 20, 20))
        return len(times.latencies_s) / times.wall_s
    infer = build.infer
    end = time.perf_counter() + warmup_s
    i = 0
    while time.perf_counter() < end:
        infer(feeds[i % len(feeds)])
        i += 1
    start = time.perf_counter()
    queries = 0
    while True:
        infer(feeds[queries % len(feeds)])
        queries += 1
        elapsed = time.perf_counter() - start
        if elapsed >= window_s and queries >= 20:
            return queries / elapsed


def measure(case: Case, builds: list[Build], rounds: int, window_s: float) -> None:
    n = len(next(iter(case.evals.values())))
    feeds = {
        b: [{k: np.ascontiguousarray(v[(np.arange(b) + j * b) % n]) for k, v in case.evals.items()} for j in range(4)]
        for b in BATCHES
    }
    for r in range(rounds):
        for batch in BATCHES:
            for build in builds if r % 2 == 0 else list(reversed(builds)):
                build.tput[batch].append(timed(build, feeds[batch], window_s, 0.3) * batch)
        print(f"  round {r + 1}/{rounds} done", flush=True)


# --- checks and the table ----------------------------------------------------------------------------


def check(case: Case, builds: list[Build]) -> list[str]:
    anchors_ = [b for b in builds if b.source == "anchor"]
    front = [b for b in builds if b.source == "edgeprof"]
    tol = TOP1_TOLERANCE if case.labels is not None else COSINE_TOLERANCE
    lines = []
    for a in anchors_:
        match = [
            f for f in front if all(f.median(b) >= 0.95 * a.median(b) for b in BATCHES) and f.quality >= a.quality - tol
        ]
        verdict = "matched by " + ", ".join(f.name for f in match) if match else "**NOT matched: edgeprof loses here**"
        lines.append(f"- {a.name} (quality {a.quality:.4f}): {verdict}")
    fp32 = next(b for b in anchors_ if b.name == "ORT FP32").quality
    good = (
        (lambda b: b.quality >= fp32 - QUALITY_BAR_TOP1)
        if case.labels is not None
        else (lambda b: b.quality >= QUALITY_BAR_COSINE)
    )
    for batch in BATCHES:
        best_a = max((b for b in anchors_ if good(b)), key=lambda b: b.median(batch), default=None)
        best_e = max((b for b in front if good(b)), key=lambda b: b.median(batch), default=None)
        if best_a is None or best_e is None:
            lines.append(
                f"- batch {batch}: no build within the quality bar on one side (anchors {best_a}, edgeprof {best_e})"
            )
            continue
        ratio = best_e.median(batch) / best_a.median(batch)
        mark = "meets" if ratio >= 1.1 else "**falls short of** (edgeprof loses here)"
        lines.append(
            f"- batch {batch}, within the quality bar: best edgeprof {best_e.name} {best_e.median(batch):,.0f} inf/s "
            f"vs best anchor {best_a.name} {best_a.median(batch):,.0f} inf/s = **{ratio:.2f}x**, {mark} the 1.1x target"
        )
    return lines


def table(case: Case, builds: list[Build]) -> list[str]:
    q = "top-1" if case.labels is not None else "cosine to FP32"
    rows = [
        f"| build | from | {q} | b1 inf/s (median, spread) | b8 inf/s (median, spread) | runtime settings |",
        "|---|---|---|---|---|---|",
    ]
    for b in builds:
        cells = [f"{b.median(x):,.0f} ({b.spread(x):.0%})" for x in BATCHES]
        rows.append(f"| {b.name} | {b.source} | {b.quality:.4f} | {cells[0]} | {cells[1]} | {b.note} |")
    return rows


def _rejected_text(rejected: list[dict[str, str]]) -> str:
    if not rejected:
        return ""
    return ": " + "; ".join(f"{f['variant_id']} ({f['error'].split(': ', 1)[1]})" for f in rejected[:6])


def machine() -> list[str]:
    import nncf
    import onnx
    import onnxruntime
    import openvino

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f" {f}" in flags]
    return [
        f"- CPU: {cpu} ({', '.join(isa) or 'no AVX2'}), {len(__import__('os').sched_getaffinity(0))} usable CPUs; "
        f"load average at start {open('/proc/loadavg').read().split()[0]}",
        f"- Python {platform.python_version()}; onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"openvino {openvino.get_version()}, nncf {nncf.__version__}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="demo,mnist,encoder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=1.5)
    args = parser.parse_args()
    lines = [
        "# edgeprof's front against the standard tools' defaults",
        "",
        f"Generated by `scripts/bench/optimisation_vs_anchors.py` on {time.strftime('%Y-%m-%d')}.",
        "",
        *machine(),
        f"- edgeprof optimize {' '.join(f'--{k} {v}' for k, v in SEARCH.items())}, budget 0.5 points "
        "(cosine >= 0.995 for the encoder); builds re-timed here in one process, round-robin, "
        f"{args.rounds} rounds of {args.window} s windows per batch size; throughput = inferences/s (samples).",
        "",
    ]
    makers = {"demo": lambda w: demo_case(), "mnist": mnist_case, "encoder": encoder_case}
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="edgeprof-anchors-") as tmp:
        for key in args.models.split(","):
            work = Path(tmp) / key
            work.mkdir()
            case = makers[key](work)
            import onnxruntime as ort

            ref_session = ort.InferenceSession(str(case.model), providers=["CPUExecutionProvider"])
            n = len(next(iter(case.evals.values())))
            case.reference = np.concatenate(
                [ref_session.run(None, {k: v[i : i + 1] for k, v in case.evals.items()})[0] for i in range(n)]
            )
            print(f"{case.name}: anchors …", flush=True)
            builds = anchors(case, work)
            print(f"{case.name}: edgeprof optimize …", flush=True)
            front, info = edgeprof_front(case, work)
            builds += front
            for b in builds:
                b.quality = score(case, b)
            print(f"{case.name}: timing {len(builds)} builds …", flush=True)
            measure(case, builds, args.rounds, args.window)
            result = check(case, builds)
            verdicts += [f"{case.name}: {line[2:]}" for line in result if "NOT" in line or "falls short" in line]
            lines += [f"## {case.name}", "", *table(case, builds), ""]
            lines += [
                f"edgeprof measured {info['variants']} variants in {info['wall_s']:.0f} s (its own run, "
                f"build to report); {len(info['rejected'])} rejected on the host for breaking the budget"
                + (
                    ": "
                    + "; ".join(f"{f['variant_id']} ({f['error'].split(': ', 1)[1]})" for f in info["rejected"][:6])
                    if info["rejected"]
                    else ""
                )
                + f"; failed: {len(info['failed'])}; recommended: {(info['recommended'] or {}).get('id')}.",
                "",
                *result,
                "",
            ]
    lines += ["## Verdict", ""]
    lines += [f"- {v}" for v in verdicts] if verdicts else ["- every check above is met on this machine in this run."]
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
