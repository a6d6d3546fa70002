"""Does the agent measure what the reference tools measure? (issue 8, "Done means")

On the demo model and the external ``mnist-cnn`` model at batch 1 and 8, interleaved round by round:

- ONNX Runtime: the agent's window (``agent.harness.measure``) against a plain ONNX Runtime loop in a
  session of its own with the same session options (what a user would write), and against a bare
  loop on the agent's own session with no clock read per query (the agent's overhead);
- OpenVINO (the model converted to an FP32 IR): the agent against ``benchmark_app`` with the same
  hint, streams and threads: the LATENCY hint with one request, and the THROUGHPUT hint with the
  compiled model's optimal number of requests in flight (the agent's AsyncInferQueue window).

Each comparison is a ratio per round (agent / reference); the machine is noisy, so the median ratio
and its spread are what count. Writes ``scripts/bench/agent_agreement.md``.

    python3 scripts/bench/agent_agreement.py [--rounds 5] [--seconds 2] [--wait-quiet 900]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from agent.harness import EvalSet, WindowSettings, measure  # noqa: E402
from agent.runtimes import LocalArtifact  # noqa: E402
from agent.runtimes.ort_runtime import ORTRuntime  # noqa: E402
from agent.runtimes.ov_runtime import OVRuntime  # noqa: E402
from pipeline.demo_model import DEMO_MODEL_PATH  # noqa: E402
from pipeline.repeats import median_interval  # noqa: E402

MNIST = REPO.parent / "shared" / "eval" / "mnist-cnn" / "mnist-cnn.onnx"
BENCHMARK_APP = Path(sys.executable).with_name("benchmark_app")
AGREEMENT = 0.03  # the agent within 3% of the reference tool
OVERHEAD = 0.01  # and under 1% slower than a bare loop
FOREIGN_LIMIT = 0.05  # CPU seconds per second that other processes may take during a pair
WARMUP_S = 0.5
ORT_OPTIONS = {"intra_op_num_threads": len(os.sched_getaffinity(0)), "inter_op_num_threads": 1}


def random_inputs(runtime: ORTRuntime, batch: int, count: int = 4) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        feeds = {}
        for spec in runtime.inputs:
            dims = [batch] + [d if isinstance(d, int) else 1 for d in spec.shape[1:]]
            feeds[spec.name] = rng.standard_normal(dims).astype(np.float32)
        out.append(feeds)
    return out


def agent_window(
    runtime: object, feeds: list[dict[str, np.ndarray]], batch: int, seconds: float, conc: int = 1
) -> float:
    data = EvalSet({k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]})
    settings = WindowSettings(warmup_s=WARMUP_S, min_duration_s=seconds, min_queries=50, concurrency=conc)
    return measure(runtime, data, batch, settings=settings).throughput_ips  # type: ignore[arg-type]


def plain_ort_loop(model: Path, options: dict, feeds: list[dict[str, np.ndarray]], batch: int, seconds: float) -> float:
    """What a user writes: a session with the same options, warm-up, then run for ``seconds``."""
    import onnxruntime as ort

    opts = ORTRuntime(options).session_options()
    session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    perf = time.perf_counter
    end = perf() + WARMUP_S
    while perf() < end:
        session.run(None, feeds[0])
    n, start = 0, perf()
    while perf() - start < seconds:
        session.run(None, feeds[n % len(feeds)])
        n += 1
    return n * batch / (perf() - start)


def bare_loop(infer: Callable, feeds: list[dict[str, np.ndarray]], batch: int, seconds: float) -> float:
    """The agent's own session, no clock read per query: what the bookkeeping is measured against."""
    perf = time.perf_counter
    end = perf() + WARMUP_S
    probe = 0
    while perf() < end:
        infer(feeds[probe % len(feeds)])
        probe += 1
    n = max(10, int(probe * seconds / WARMUP_S))
    start = perf()
    for i in range(n):
        infer(feeds[i % len(feeds)])
    return n * batch / (perf() - start)


BAPP_LEAD_S = 2  # the short benchmark_app run whose count is taken off the long one's (its cold start)


def benchmark_app_run(ir: Path, data: tuple[str, str], seconds: int, hint: str, nireq: int) -> tuple[int, float, str]:
    """One benchmark_app run: (iterations, duration in seconds, its output)."""
    shape, inputs = data
    api = "sync" if hint == "latency" else "async"
    cmd = [str(BENCHMARK_APP), "-m", str(ir), "-d", "CPU", "-hint", hint, "-t", str(seconds), "-api", api]
    cmd += ["-data_shape", shape, "-i", inputs, "-inference_only", "true", "-nireq", str(nireq)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    count = re.search(r"Count:\s+(\d+) iterations", proc.stdout)
    duration = re.search(r"Duration:\s+([0-9.]+) ms", proc.stdout)
    if proc.returncode != 0 or not count or not duration:
        raise RuntimeError(f"benchmark_app failed: {(proc.stdout + proc.stderr)[-800:]}")
    return int(count.group(1)), float(duration.group(1)) / 1000, proc.stdout


def benchmark_app(
    ir: Path,
    data: tuple[str, str],
    seconds: float,
    hint: str,
    nireq: int,
    streams: int,
    threads: int,
    steady: bool = False,
) -> float:
    """benchmark_app's rate with the hint, on the agent's inputs (``data``: the -data_shape and -i
    arguments); the streams and threads its compiled model reports must be the agent's (benchmark_app
    refuses -nstreams/-nthreads beside -hint, so they are checked, not set).

    benchmark_app has no warm-up: its timed loop starts on a cold compiled model, which cost it 3-5%
    of a 2 s window here. With ``steady`` it runs twice, for :data:`BAPP_LEAD_S` and for that plus
    ``seconds``, and the rate is the difference of its own counts over the difference of its own
    durations: its loop's throughput over the last ``seconds``, cold start taken off, as the agent's
    window comes after a warm-up. Otherwise it is the rate benchmark_app reports for one run."""
    batch = int(data[0].strip("[]").split(",")[0])
    short_n, short_s = 0, 0.0
    if steady:
        short_n, short_s, _ = benchmark_app_run(ir, data, BAPP_LEAD_S, hint, nireq)
    long_n, long_s, out = benchmark_app_run(ir, data, (BAPP_LEAD_S if steady else 0) + round(seconds), hint, nireq)
    ran = {k: int(v) for k, v in re.findall(r"\b(NUM_STREAMS|INFERENCE_NUM_THREADS): (\d+)", out)}
    if ran != {"NUM_STREAMS": int(streams), "INFERENCE_NUM_THREADS": int(threads)}:
        raise RuntimeError(f"benchmark_app ran {ran}, the agent {streams} stream(s) and {threads} thread(s)")
    return batch * (long_n - short_n) / (long_s - short_s)


def bapp_data(feeds: list[dict[str, np.ndarray]], folder: Path) -> tuple[str, str]:
    """benchmark_app's -data_shape and -i for the agent's first prepared batch, saved as .npy: the
    model's speed depends on its input values (on the demo CNN, benchmark_app's own random fill,
    uniform 0..255, ran about 10% faster than standard-normal inputs), so both get the same ones."""
    if len(feeds[0]) != 1:
        raise SystemExit("agent_agreement.py compares single-input models only")
    ((name, array),) = feeds[0].items()
    path = folder / f"{name}-{'x'.join(map(str, array.shape))}-{id(feeds)}.npy"
    np.save(path, array)
    return "[" + ",".join(str(d) for d in array.shape) + "]", f"{name}:{path}"


def to_ir(model: Path, folder: Path) -> Path:
    import openvino as ov

    xml = folder / (model.stem + ".xml")
    ov.save_model(ov.convert_model(str(model)), str(xml), compress_to_fp16=False)
    return xml


def comparisons(path, batch, ort_rt, ov_lat, ov_tput, nireq, ir, feeds, data, s, ov_s, steady):  # type: ignore[no-untyped-def]
    """(name, (agent run), (reference run)) of every comparison for one model and batch size; a run is
    (configuration name, function, arguments)."""
    lat, tput = ov_lat.settings(), ov_tput.settings()
    ort_agent = ("ort agent", agent_window, (ort_rt, feeds, batch, s))
    plain = ("ort plain loop", plain_ort_loop, (path, ORT_OPTIONS, feeds, batch, s))
    bapp_lat = (ir, data, ov_s, "latency", 1, lat["num_streams"], lat["inference_num_threads"], steady)
    bapp_tput = (ir, data, ov_s, "throughput", nireq, tput["num_streams"], tput["inference_num_threads"], steady)
    return [
        ("ort agent / ort plain loop", ort_agent, plain),
        ("ort agent / ort bare loop", ort_agent, ("ort bare loop", bare_loop, (ort_rt.infer, feeds, batch, s))),
        (
            "ov agent latency / benchmark_app latency",
            ("ov agent latency", agent_window, (ov_lat, feeds, batch, ov_s)),
            ("benchmark_app latency", benchmark_app, bapp_lat),
        ),
        (
            "ov agent throughput / benchmark_app throughput",
            ("ov agent throughput", agent_window, (ov_tput, feeds, batch, ov_s, nireq)),
            ("benchmark_app throughput", benchmark_app, bapp_tput),
        ),
    ]


class ForeignLoad:
    """CPU time that neither this process nor its children (benchmark_app) used while a run went on:
    another process on the machine. A pair with more than :data:`FOREIGN_LIMIT` of one CPU of it is
    run again (up to ``--retries`` times), since one figure of the pair was measured on a shared CPU."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        own = sum(sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return busy, own, time.monotonic()

    def fraction(self) -> float:
        """Foreign CPU seconds per second of wall time since this was made."""
        busy, own, now = self._read()
        return max(0.0, (busy - self.start[0]) - (own - self.start[1])) / max(now - self.start[2], 1e-9)


def wait_quiet(limit_s: float) -> float:
    """Wait (up to ``limit_s``) for the 1-minute load average to fall below 1; return it."""
    end = time.time() + limit_s
    while os.getloadavg()[0] >= 1.0 and time.time() < end:
        time.sleep(15)
    return os.getloadavg()[0]


def interval_text(values: list[float]) -> str:
    """The distribution-free interval for the median ratio (pipeline/repeats.py: order statistics)."""
    if len(values) < 2:
        return "–"
    low, high, cover = median_interval(values)
    return f"{low:.3f}–{high:.3f} ({cover:.0%})"


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{(max(values) - min(values)) / med * 100:.1f}%" if med else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2, help="window length (whole seconds: benchmark_app -t)")
    parser.add_argument(
        "--ov-seconds",
        type=int,
        default=6,
        help="window length of the OpenVINO comparisons (benchmark_app has no warm-up: a longer window dilutes "
        "its cold start)",
    )
    parser.add_argument(
        "--bapp-steady",
        action="store_true",
        help=f"benchmark_app's figure without its cold start: run it for -t {BAPP_LEAD_S} and for -t "
        f"{BAPP_LEAD_S}+--ov-seconds, and take the difference of its counts over the difference of its durations",
    )
    parser.add_argument("--only", default="", help="run only the comparisons whose name contains this text")
    parser.add_argument("--retries", type=int, default=3, help="runs of a pair again when another process took CPU")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="wait up to this long for load < 1")
    parser.add_argument("--out", type=Path, default=REPO / "scripts" / "bench" / "agent_agreement.md")
    args = parser.parse_args()

    load_before = wait_quiet(args.wait_quiet) if args.wait_quiet else os.getloadavg()[0]
    started = datetime.now(timezone.utc)
    folder = Path(tempfile.mkdtemp(prefix="edgeprof-agreement-"))
    models = {"demo digits CNN": DEMO_MODEL_PATH, "mnist-cnn (external)": MNIST}
    threads = ORT_OPTIONS["intra_op_num_threads"]
    ratios: dict[tuple[str, int, str], list[float]] = {}
    figures: dict[tuple[str, int, str], list[float]] = {}
    settings_seen: dict[str, object] = {}

    def keep(model: str, batch: int, name: str, value: float) -> None:
        figures.setdefault((model, batch, name), []).append(value)

    setups = []
    for label, path in models.items():
        ort_rt = ORTRuntime(ORT_OPTIONS)
        ort_rt.load(LocalArtifact.onnx(path))
        ir = to_ir(path, folder)
        ov_lat = OVRuntime({"performance_hint": "LATENCY"})
        ov_lat.load(LocalArtifact("openvino-ir", {"model": ir, "weights": ir.with_suffix(".bin")}))
        ov_tput = OVRuntime({"performance_hint": "THROUGHPUT"})
        ov_tput.load(LocalArtifact("openvino-ir", {"model": ir, "weights": ir.with_suffix(".bin")}))
        nireq = int(ov_tput.settings().get("optimal_number_of_infer_requests") or 2)
        settings_seen[label] = {"ov latency": ov_lat.settings(), "ov throughput": ov_tput.settings(), "nireq": nireq}
        for batch in (1, 8):
            feeds = random_inputs(ort_rt, batch)
            setups.append((label, path, batch, ort_rt, ov_lat, ov_tput, nireq, ir, feeds, bapp_data(feeds, folder)))

    retried = 0
    for r in range(args.rounds):
        for label, path, batch, ort_rt, ov_lat, ov_tput, nireq, ir, feeds, data in setups:
            for name, agent, reference in comparisons(
                path,
                batch,
                ort_rt,
                ov_lat,
                ov_tput,
                nireq,
                ir,
                feeds,
                data,
                args.seconds,
                args.ov_seconds,
                args.bapp_steady,
            ):
                if args.only not in name:
                    continue
                pair = [agent, reference] if r % 2 == 0 else [reference, agent]  # A, B then B, A: no position bias
                for attempt in range(args.retries + 1):
                    load = ForeignLoad()
                    got = {config: run(*run_args) for config, run, run_args in pair}
                    if load.fraction() <= FOREIGN_LIMIT or attempt == args.retries:
                        break
                    retried += 1
                for config, value in got.items():
                    keep(label, batch, config, value)
                ratios.setdefault((label, batch, name), []).append(got[agent[0]] / got[reference[0]])
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    lines = [
        "# Agent agreement with plain ONNX Runtime, a bare loop and benchmark_app (issue 8)",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `python3 scripts/bench/agent_agreement.py --rounds {args.rounds} "
        f"--seconds {args.seconds:g} --ov-seconds {args.ov_seconds:g}{' --bapp-steady' if args.bapp_steady else ''}`: "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, ONNX Runtime {ORTRuntime.version()}, OpenVINO {OVRuntime.version()}. "
        f"Load average (1 min) {load_before:.2f} before"
        + (
            " — **the machine was not quiet**: other processes shared its CPUs, so single figures are noisy "
            "and the interleaved ratios are what count."
            if load_before >= 1
            else " (during the run the benchmark itself keeps both CPUs busy; other processes' CPU time is "
            "checked per pair, below)."
        ),
        "",
        "Each round runs every comparison as an adjacent pair, agent then reference, and the other way round "
        "in the next round (A, B then B, A); a pair during which other processes took more than "
        f"{FOREIGN_LIMIT:.0%} of a CPU (whole-machine /proc/stat busy time less this process's and its "
        f"children's CPU time) is run again, up to {args.retries} times: {retried} pair(s) were. A window is "
        f"{args.seconds:g} s for ONNX Runtime and {args.ov_seconds:g} s for OpenVINO, after {WARMUP_S:g} s of warm-up "
        "in the agent and the loops (the agent's window may extend toward 1000 queries). "
        f"ONNX Runtime: {threads} intra-op threads, 1 inter-op, in both the agent and the plain loop. OpenVINO: "
        "the same FP32 IR; LATENCY hint with 1 synchronous request, THROUGHPUT hint with the compiled model's "
        "optimal number of requests in flight (AsyncInferQueue in the agent, `-api async -nireq` in benchmark_app); "
        "benchmark_app's compiled model reported the same streams and threads as the agent's (checked per run), "
        "`-inference_only true`, `-data_shape` (the model keeps its dynamic batch axis, as in the agent) and `-i` "
        "with the agent's first prepared batch as a .npy file: the speed of these models depends on the input "
        "values, and benchmark_app's own random fill (uniform 0..255) ran the demo CNN about 10% faster than the "
        "standard-normal inputs both get here. Inference precision is the plugin's default in both. "
        "benchmark_app runs one inference before its timed loop and no warm-up, a cold start the agent's "
        f"{WARMUP_S:g} s warm-up does not have (it cost benchmark_app 3-5% of a 2 s window on the MNIST CNN, "
        "-t 2 against -t 6"
        + (
            f"): so benchmark_app runs twice per figure, -t {BAPP_LEAD_S} and -t {BAPP_LEAD_S}+{args.ov_seconds:g}, "
            "and its figure is the difference of the two runs' reported counts (iterations × batch) over the "
            f"difference of their reported durations: its own loop's rate over its last {args.ov_seconds:g} s."
            if args.bapp_steady
            else "): the OpenVINO windows are longer so that it weighs less (`--bapp-steady` takes it off instead)."
        ),
        "",
        "## Ratios (agent / reference, per round)",
        "",
        "| model | batch | comparison | median ratio | interval for the median (coverage) | min | max | target "
        "| result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for (label, batch, comparison), values in ratios.items():
        med = statistics.median(values)
        if "bare loop" in comparison:
            target, ok = f"≥ {1 - OVERHEAD:.2f} (overhead < 1%)", med >= 1 - OVERHEAD
        else:
            target, ok = f"{1 - AGREEMENT:.2f}–{1 + AGREEMENT:.2f}", abs(med - 1) <= AGREEMENT
        verdicts.append(ok)
        lines.append(
            f"| {label} | {batch} | {comparison} | {med:.3f} | {interval_text(values)} | {min(values):.3f} | "
            f"{max(values):.3f} | {target} | "
            f"{'PASS' if ok else 'FAIL'} |"
        )
    lines += [
        "",
        "## Throughput per configuration (inferences/s, median over rounds, spread = (max − min) / median)",
        "",
        "| model | batch | configuration | median inf/s | min | max | spread |",
        "|---|---|---|---|---|---|---|",
    ]
    for (label, batch, name), values in figures.items():
        lines.append(
            f"| {label} | {batch} | {name} | {statistics.median(values):,.0f} | {min(values):,.0f} | "
            f"{max(values):,.0f} | {spread(values)} |"
        )
    lines += [
        "",
        f"Result: **{sum(verdicts)} of {len(verdicts)} comparisons within their target.**",
        "",
        "OpenVINO settings the compiled models reported (the agent's read-back):",
        "",
    ]
    for label, seen in settings_seen.items():
        lat, tput = seen["ov latency"], seen["ov throughput"]  # type: ignore[index]
        lines.append(
            f"- {label}: inference precision {lat.get('inference_precision')}; "
            f"latency hint {lat['num_streams']} stream(s), {lat['inference_num_threads']} threads; "
            f"throughput hint {tput['num_streams']} stream(s), {tput['inference_num_threads']} threads, "
            f"{seen['nireq']} requests in flight"  # type: ignore[index]
        )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
