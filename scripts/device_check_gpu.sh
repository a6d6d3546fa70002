#!/usr/bin/env bash
# The GPU checks that this project's CI cannot run: NVML power through the agent's sensor and
# sampler, and ONNX Runtime's CUDA / TensorRT execution providers through the agent's runtime.
# Run it in one short call on a lent NVIDIA machine from the repository root, for example:
#   run(command="bash scripts/device_check_gpu.sh", timeout_s=300)
# That machine has numpy, onnx, onnxruntime (CPU build), nvidia-ml-py, pyyaml, typer and pytest,
# but neither paho-mqtt nor an onnxruntime-gpu build: the MQTT path is checked here on the CPU, and
# an onnxruntime-gpu wheel (if it fits the 64 MiB transfer limit) can be carried in .whl/.
# Everything it prints is also written to $OUT/device_check.txt when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp}/device_check.txt"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
{
  echo "== machine"; nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit --format=csv 2>&1
  python3 --version
  echo "== live NVML sensor tests"
  python3 -m pytest -q -p no:cacheprovider tests/agent/power/test_nvml.py 2>&1 | tail -5
  echo "== NVML window over a GPU-idle and a CPU-loaded ORT run, and the CUDA/TensorRT providers"
  python3 - <<'PY'
import json, time
import onnxruntime as ort
from agent.harness import EvalSet, measure
from agent.power.nvml import NVMLSensor
from agent.power.sampler import PowerSampler
from agent.runtimes.ort_runtime import ORTRuntime
from agent.errors import RuntimeLoadError, SensorError
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH
import numpy as np

print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers())
with np.load(DEMO_EVAL_PATH) as npz:
    data = EvalSet({"image": npz["image"]}, labels=npz["labels"])
sensor = NVMLSensor()
print("sensor", sensor.source, "rate", sensor.nominal_rate_hz, "Hz; method:", sensor.method)
sampler = PowerSampler(sensor)
sampler.start()
try:
    print("idle W (3 s):", round(sampler.measure_idle(3.0), 2))
    for providers in (["CPUExecutionProvider"], ["CUDAExecutionProvider"], ["TensorrtExecutionProvider", "CUDAExecutionProvider"]):
        rt = ORTRuntime({"providers": providers})
        try:
            rt.load(DEMO_MODEL_PATH)
        except RuntimeLoadError as exc:
            print(providers[0], "not checked:", exc)
            continue
        for batch in (1, 64):
            m = measure(rt, data, batch, warmup_s=1.0, min_duration_s=3.0, min_queries=50, sampler=sampler)
            p = m.power
            print(json.dumps({"providers": providers[0], "batch": batch, "ips": round(m.throughput_ips),
                              "p99_ms": round(m.latency_ms.p99, 3), "avg_w": p and round(p.avg_w, 2),
                              "samples": p and p.samples, "inf_per_j": m.inferences_per_joule, "notes": m.notes}))
except SensorError as exc:
    print("NVML window failed:", exc)
finally:
    sampler.stop()
    sensor.close()
PY
} 2>&1 | tee "$out"
