"""Benchmark: the README's demo command on a fresh clone must finish in under 5 minutes (issue 2).

Clones the committed HEAD into a temporary folder, runs ``./scripts/demo.sh`` there with a fresh
virtual environment, and records the wall time of the whole command (set-up included) and of the
demo alone, plus the size of the Pareto front in the results it wrote, into
``scripts/bench/demo_wall_time.md``.

    python3 scripts/bench/demo_wall_time.py

pip's download cache is left as it is, so "set-up" measures install time on a machine that has
fetched these wheels before; a first-ever install adds the download time of the wheels.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 300.0


ISSUE2_OBJECTIVES = ("ipj", "loss", "p99")


def front_of(out: Path) -> list[str]:
    """The ids on the Pareto front (rank 0) of the results.json in ``out``."""
    doc = json.loads((out / "results.json").read_text())
    return [r["id"] for r in doc["variants"] if r["pareto_rank"] == 0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="edgeprof-bench-", dir=REPO.parent))
    clone = work / "main"
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        t0 = time.monotonic()
        proc = subprocess.run(["./scripts/demo.sh", "--out", "bench-out"], cwd=clone, capture_output=True, text=True)
        total = time.monotonic() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return 1
        # Second run: the venv exists, so this is the demo alone.
        t1 = time.monotonic()
        again = subprocess.run(["./scripts/demo.sh", "--out", "bench-out-2"], cwd=clone, capture_output=True, text=True)
        demo_only = time.monotonic() - t1
        if again.returncode != 0:
            print(again.stderr[-3000:], file=sys.stderr)
            return 1
        front = front_of(clone / "bench-out")
        # issue 2's front was over inf/J, accuracy loss and p99; the default objectives are issue 9's
        shutil.copytree(clone / "bench-out", clone / "bench-out-issue2")
        subprocess.run(
            [".venv/bin/edgeprof", "report", "bench-out-issue2", "--objectives", ",".join(ISSUE2_OBJECTIVES)],
            cwd=clone,
            capture_output=True,
            check=True,
        )
        front2 = front_of(clone / "bench-out-issue2")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # issue 2's bar: under 5 minutes, and a front of at least 2 builds measured by the agent (its objectives)
    verdict = "PASS" if total < LIMIT_S and len(front2) >= 2 else "FAIL"
    lines = [
        "# Demo wall time (issue 2: under 5 minutes on 2 cores, from a fresh clone)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {head} by "
        "`python3 scripts/bench/demo_wall_time.py`.",
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}.",
        "",
        "| what | seconds |",
        "|---|---|",
        f"| fresh clone: `./scripts/demo.sh` (venv set-up with pip's cache warm, then the demo) | {total:.1f} |",
        f"| second run: the demo alone | {demo_only:.1f} |",
        f"| limit | {LIMIT_S:.0f} |",
        "",
        f"Result: **{verdict}** (needs under {LIMIT_S:.0f} s and a front of at least 2 on issue 2's objectives). "
        f"Ranked on issue 2's objectives ({', '.join(ISSUE2_OBJECTIVES)}; `edgeprof report --objectives`), the "
        f"first run's front had {len(front2)} records measured by the agent over MQTT: "
        + ", ".join(f"`{f}`" for f in front2)
        + f". On the default objectives (issue 9's: inferences per joule, throughput at the p99 target, accuracy "
        f"loss, cost per million inferences) it had {len(front)}: "
        + ", ".join(f"`{f}`" for f in front)
        + " (one build can lead on all four at once; repeats make a build dominate only where its interval is "
        "clear of the other's).",
        "",
    ]
    out = REPO / "scripts" / "bench" / "demo_wall_time.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
