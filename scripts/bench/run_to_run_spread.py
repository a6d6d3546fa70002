"""Benchmark: how far apart two timed windows of the same build land, run after run.

The recommendation treats builds within ``pipeline.recommend.INDISTINGUISHABLE`` of each other as a tie
(one run cannot separate them). This measures that spread on this machine: the bundled demo model,
FP32 and INT8-static, batch 1 and 8, REPEATS windows each with the harness's defaults (0.5 s warm-up,
2 s window), through the agent's own runtime and harness code. Writes
``scripts/bench/run_to_run_spread.md``.

    python3 scripts/bench/run_to_run_spread.py
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from agent.harness import EvalSet, measure  # noqa: E402
from agent.runtimes.ort_runtime import ORTRuntime  # noqa: E402
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH  # noqa: E402
from pipeline.passes import PassContext, get_pass  # noqa: E402
from pipeline.recommend import INDISTINGUISHABLE  # noqa: E402

REPEATS = 8


def main() -> int:
    with np.load(DEMO_EVAL_PATH) as npz:
        data = EvalSet({"image": npz["image"]}, labels=npz["labels"])
    with np.load(DEMO_CALIB_PATH) as npz:
        calib = {"image": npz["image"]}
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "int8.onnx"
        get_pass("quantize_static")({}).run(DEMO_MODEL_PATH, int8, PassContext(calibration=calib, work_dir=Path(tmp)))
        rows = []
        worst = 0.0
        for label, path in (("fp32", DEMO_MODEL_PATH), ("int8-static", int8)):
            rt = ORTRuntime()
            rt.load(path)
            for batch in (1, 8):
                tput = [
                    measure(rt, data, batch, warmup_s=0.5, min_duration_s=2.0, min_queries=50).throughput_ips
                    for _ in range(REPEATS)
                ]
                med = statistics.median(tput)
                spread = (max(tput) - min(tput)) / med
                cv = statistics.stdev(tput) / statistics.mean(tput)
                worst = max(worst, spread)
                lo, hi = min(tput), max(tput)
                rows.append(f"| {label} | {batch} | {med:,.0f} | {lo:,.0f} | {hi:,.0f} | {spread:.1%} | {cv:.1%} |")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    lines = [
        "# Run-to-run spread of one timed window (basis of the 5% tie in the recommendation)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {head.stdout.strip()} by "
        f"`python3 scripts/bench/run_to_run_spread.py`: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{REPEATS} windows of 2 s after 0.5 s warm-up per row, ONNX Runtime CPU, the bundled digits CNN.",
        "",
        "| build | batch | median inf/s | min | max | (max-min)/median | CV |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Largest (max-min)/median: {worst:.1%}; `INDISTINGUISHABLE` is {INDISTINGUISHABLE:.0%}. Two builds whose "
        "figures differ by less than the typical spread of one build against itself are not told apart by one run.",
        "",
    ]
    (REPO / "scripts" / "bench" / "run_to_run_spread.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
