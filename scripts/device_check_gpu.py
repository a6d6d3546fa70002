"""The GPU checks this project's CI cannot run, in one short call on a machine with an NVIDIA GPU.

Run through ``scripts/device_check_gpu.sh`` (which sets PYTHONPATH and keeps the output). Each check
prints ``CHECKED`` with its figures, or ``NOT CHECKED`` with the reason; the last lines sum them up.
Nothing here needs TensorRT or onnxruntime-gpu: where they are missing, that is what is reported.

1. NVML power through the agent's sensor and sampler: the energy counter and the power samples
   (forced on the same GPU) over the same idle and busy windows, which must agree;
2. GPU conditions (utilisation, clocks, temperature, memory) around an idle and a busy window;
3. the TensorRT runtime's CUDA paths (agent/runtimes/cuda_mem.py) through torch and cupy: memory,
   page-locked copies, events on the stream, CUDA-graph capture and replay of work enqueued on the
   raw stream handle (as TensorRT's enqueue gets it);
4. the TensorRT runtime itself and ONNX Runtime's CUDA/TensorRT providers, where installed;
5. ``edgeprof-agent doctor``: the profile matched from the GPU name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS: list[tuple[str, bool, str]] = []
GPU_TEST = "tests/agent/runtimes/test_trt_runtime_gpu.py"


def check(name: str) -> Callable[[Callable[[], str]], Callable[[], None]]:
    def wrap(fn: Callable[[], str]) -> Callable[[], None]:
        def run() -> None:
            started = time.monotonic()
            try:
                detail = fn()
                ok = not detail.startswith("NOT CHECKED")
                detail = detail.replace("NOT CHECKED: ", "")
            except Exception as exc:  # a failed check is reported, and the others still run
                ok, detail = False, f"FAILED: {type(exc).__name__}: {exc}"
                traceback.print_exc(limit=3)
            RESULTS.append((name, ok, detail))
            verdict = "CHECKED" if ok else "NOT CHECKED"
            print(f"{verdict} {name} ({time.monotonic() - started:.1f} s): {detail}")
            sys.stdout.flush()

        return run

    return wrap


def busy_gpu(seconds: float) -> Callable[[], None]:
    """A background load on the GPU (torch, else cupy matmuls) until the returned stop is called."""
    stop = threading.Event()
    try:
        import torch

        a = torch.randn(4096, 4096, device="cuda")

        def step() -> None:
            (a @ a).sum().item()
    except Exception:
        import cupy

        a = cupy.random.standard_normal((4096, 4096), dtype=cupy.float32)

        def step() -> None:
            float((a @ a).sum())

    def loop() -> None:
        end = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < end:
            step()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join()

    return halt


@check("NVML energy counter and power samples over the same windows")
def nvml_power() -> str:
    from agent.errors import SensorError
    from agent.power.nvml import NVMLSensor
    from agent.power.sampler import PowerSampler

    try:
        counter, samples = NVMLSensor(index=0), NVMLSensor(index=0)
    except SensorError as exc:
        return f"NOT CHECKED: {exc}"
    if not counter.use_counter:
        return "NOT CHECKED: this GPU has no NVML energy counter (older than Volta): only power samples exist"
    samples.use_counter = False  # the power-sample path, on the same GPU, for comparison
    samples.method, samples.min_window_s = "NVML power usage, forced for this check", 0.0
    samplers = [PowerSampler(counter).start(), PowerSampler(samples).start()]
    figures = {}
    try:
        time.sleep(0.5)
        for label, seconds in (("idle", 3.0), ("busy", 6.0)):
            halt = busy_gpu(seconds + 1.5) if label == "busy" else (lambda: None)
            time.sleep(1.5 if label == "busy" else 0.0)  # past NVML's ~1 s power average before t0
            t0 = time.monotonic()
            time.sleep(seconds)
            t1 = time.monotonic()
            halt()
            figures[label] = [s.window(t0, t1) for s in samplers]
    finally:
        for s in samplers:
            s.stop()
        counter.close()
        samples.close()
    lines = []
    for label, (c, p) in figures.items():
        gap = 100.0 * abs(c.avg_w - p.avg_w) / c.avg_w
        lines.append(
            f"{label}: counter {c.avg_w:.1f} W ({c.samples} readings), samples {p.avg_w:.1f} W "
            f"({p.samples} at {p.rate_hz:.0f} Hz), gap {gap:.1f}%"
        )
    busy_c, busy_p = figures["busy"]
    assert figures["busy"][0].avg_w > figures["idle"][0].avg_w, "the busy window drew no more than idle"
    assert abs(busy_c.avg_w - busy_p.avg_w) < 0.15 * busy_c.avg_w, "counter and samples disagree by over 15%"
    return "; ".join(lines) + "; method: " + counter.method


@check("GPU conditions around an idle and a busy window")
def conditions() -> str:
    from agent import gpu_conditions

    idle = gpu_conditions.snapshot()
    if not any(k.startswith("gpu_util_pct:") for k in idle):
        return f"NOT CHECKED: NVML gave no utilisation here: {json.dumps(idle)}"
    halt = busy_gpu(4.0)
    time.sleep(3.0)
    busy = gpu_conditions.snapshot()
    halt()
    keys = sorted(k for k in busy if k.endswith(":gpu0"))
    assert busy["gpu_util_pct:gpu0"] > 50, f"a busy GPU reported {busy['gpu_util_pct:gpu0']}% utilisation"
    idle_text = {k: idle.get(k) for k in keys}
    busy_text = {k: busy[k] for k in keys}
    return f"idle {idle_text} | busy {busy_text} | notes {gpu_conditions.compare(idle, busy)}"


def cuda_backend_check(name: str, enqueue_on: Callable[[int], Callable[[], None]]) -> str:
    from agent.runtimes.cuda_mem import open_backend

    backend = open_backend(name)
    try:
        data = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
        ptr = backend.alloc(data.nbytes)
        host_in, host_out = backend.pinned(data.nbytes), backend.pinned(data.nbytes)
        host_in[:] = data.view(np.uint8)
        backend.htod(ptr, host_in)
        backend.dtoh(host_out, ptr)
        backend.synchronize()
        assert np.array_equal(host_out.view(np.float32), data), "the round trip through device memory changed data"
        work = enqueue_on(backend.stream_handle)
        start, end = backend.new_event(), backend.new_event()
        backend.record(start)
        work()
        backend.record(end)
        backend.synchronize()
        plain_ms = backend.elapsed_ms(start, end)
        graph = backend.capture(work)
        backend.record(start)
        for _ in range(10):
            backend.launch(graph)
        backend.record(end)
        backend.synchronize()
        graph_ms = backend.elapsed_ms(start, end) / 10
        major, minor = backend.compute_capability()
        return (
            f"{name} on {backend.device_name()!r} (compute capability {major}.{minor}): 4 MiB round trip exact; "
            f"enqueue {plain_ms:.3f} ms by CUDA events; CUDA graph replay {graph_ms:.3f} ms"
        )
    finally:
        backend.close()


@check("CUDA path of the TensorRT runtime through torch")
def torch_backend() -> str:
    try:
        import torch
    except ImportError:
        return "NOT CHECKED: torch is not installed"

    def enqueue_on(handle: int) -> Callable[[], None]:
        stream = torch.cuda.ExternalStream(handle)  # the raw handle, as TensorRT's enqueue receives it
        a = torch.randn(4096, 4096, device="cuda")
        out = torch.empty_like(a)  # no allocation inside a graph capture

        def work() -> None:
            with torch.cuda.stream(stream):
                torch.mul(a, 2.0, out=out)

        return work

    return cuda_backend_check("torch", enqueue_on)


@check("CUDA path of the TensorRT runtime through cupy")
def cupy_backend() -> str:
    try:
        import cupy
    except ImportError:
        return "NOT CHECKED: cupy is not installed"

    def enqueue_on(handle: int) -> Callable[[], None]:
        stream = cupy.cuda.ExternalStream(handle)
        a = cupy.random.standard_normal((4096, 4096), dtype=cupy.float32)
        out = cupy.empty_like(a)  # CuPy's default pool cannot allocate inside a graph capture

        def work() -> None:
            with stream:
                cupy.multiply(a, 2.0, out=out)

        return work

    return cuda_backend_check("cupy", enqueue_on)


@check("TensorRT runtime (engine built on this GPU)")
def tensorrt_runtime() -> str:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return (
            "NOT CHECKED: tensorrt is not installed here (no wheel was carried); the fake-backed tests cover the code"
        )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/agent/runtimes/test_trt_runtime_gpu.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
    assert proc.returncode == 0, tail
    return tail[0] if tail else "passed"


@check("ONNX Runtime CUDA and TensorRT execution providers")
def ort_providers() -> str:
    from agent.errors import RuntimeLoadError
    from agent.runtimes import LocalArtifact
    from agent.runtimes.ort_runtime import ORTRuntime
    from pipeline.demo_model import DEMO_MODEL_PATH

    done, missing = [], []
    for alias in ("cuda", "tensorrt"):
        runtime = ORTRuntime({"providers": [alias]})
        try:
            runtime.load(LocalArtifact.onnx(DEMO_MODEL_PATH))
        except RuntimeLoadError as exc:
            missing.append(f"{alias}: {exc}")
            continue
        runtime.infer({"image": np.zeros((8, 1, 32, 32), np.float32)})
        done.append(f"{alias} ran with {runtime.settings()['providers']}")
    if not done:
        return "NOT CHECKED: " + "; ".join(missing)
    return "; ".join(done + missing)


@check("doctor matches a profile from the GPU name")
def doctor() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "doctor"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    lines = proc.stdout.strip().splitlines()
    print("\n".join("    " + line for line in lines[:12]))
    assert proc.returncode == 0, proc.stderr
    summary = " | ".join(line.strip() for line in lines[:4])
    if "GPU '" not in proc.stdout:
        return f"NOT CHECKED: doctor saw no NVIDIA GPU here: {summary}"
    return summary


def main() -> int:
    for run in (nvml_power, conditions, torch_backend, cupy_backend, tensorrt_runtime, ort_providers, doctor):
        run()
    print("== summary")
    for name, ok, detail in RESULTS:
        verdict = "CHECKED" if ok else "NOT CHECKED"
        print(f"{verdict:<12} {name}" + ("" if ok else ": " + detail[:200]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
