#!/usr/bin/env bash
# The GPU checks that this project's CI cannot run (scripts/device_check_gpu.py says which and why):
# NVML power through the agent's sensor and sampler (energy counter and power samples), GPU
# conditions around a window, the TensorRT runtime's CUDA paths through torch and cupy, TensorRT and
# ONNX Runtime's GPU providers where installed, and doctor's profile match. One short call (< 3 min)
# on a lent NVIDIA machine, from the repository root:
#   run(command="bash scripts/device_check_gpu.sh", timeout_s=300)
# The machine needs numpy, onnx, onnxruntime, nvidia-ml-py, pyyaml, typer and pytest; torch and/or
# cupy for the CUDA paths. Wheels carried in .whl/ (onnxruntime-gpu, tensorrt, if they fit the
# transfer limit) are installed first. Everything printed also goes to $OUT/device_check.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp}/device_check.txt"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
{
  echo "== machine"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,power.draw,power.limit,clocks.max.sm --format=csv 2>&1
  python3 --version
  python3 -c 'import importlib.util as u; print("packages:", {m: bool(u.find_spec(m)) for m in ("pynvml", "torch", "cupy", "cuda", "pycuda", "tensorrt", "onnxruntime")})'
  echo "== the agent's NVIDIA tests on this Python (fakes at the hardware boundary; the GPU test uses the real one)"
  python3 -m pytest -q -p no:cacheprovider -W "ignore::pytest.PytestConfigWarning" \
    tests/agent/power/test_nvml.py tests/agent/test_gpu_conditions.py tests/agent/runtimes/test_trt_build_recipe.py \
    tests/agent/runtimes/test_trt_runtime.py tests/agent/runtimes/test_trt_runtime_gpu.py 2>&1 | tail -4
  echo "== live checks"
  timeout 240 python3 scripts/device_check_gpu.py 2>&1
} 2>&1 | tee "$out"
