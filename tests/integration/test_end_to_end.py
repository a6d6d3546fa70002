"""The main job end to end: real broker, real agent process, real runtime, real files.

Runs ``edgeprof optimize`` as a user would (a subprocess), against the embedded amqtt broker and
against Mosquitto, and checks the public ``results.json`` contract and the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH

pytestmark = pytest.mark.integration

RECORD_FIELDS = {
    "id",
    "runtime",
    "precision",
    "device_id",
    "target",
    "batch_size",
    "throughput_ips",
    "latency_ms",
    "samples",
    "duration_s",
    "power",
    "energy_j_per_inference",
    "inferences_per_joule",
    "accuracy",
    "pareto_rank",
    "valid",
    "notes",
}


def run_edgeprof(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def optimize_args(out: Path, *extra: str) -> list[str]:
    return [
        "optimize",
        str(DEMO_MODEL_PATH),
        "--calib",
        str(DEMO_CALIB_PATH),
        "--eval",
        str(DEMO_EVAL_PATH),
        "--out",
        str(out),
        "--precisions",
        "fp32,int8-static",
        "--runtimes",
        "onnxruntime",
        "--batch",
        "1,8",
        "--min-duration",
        "1.0",
        "--warmup",
        "0.1",
        *extra,
    ]


def check_results(out: Path) -> dict:  # type: ignore[type-arg]
    doc = json.loads((out / "results.json").read_text())
    records = doc["variants"]
    assert {(r["variant_id"], r["batch_size"]) for r in records} == {
        ("ort-fp32", 1),
        ("ort-fp32", 8),
        ("ort-int8-static", 1),
        ("ort-int8-static", 8),
    }
    for r in records:
        assert RECORD_FIELDS <= set(r), RECORD_FIELDS - set(r)
        assert set(r["latency_ms"]) >= {"p50", "p90", "p99", "mean"}
        assert r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        assert r["throughput_ips"] > 0 and r["samples"] >= r["batch_size"]
        assert r["power"]["estimated"] is True and r["power"]["source"].startswith("estimate")
        assert r["power"]["samples"] >= 2
        assert r["accuracy"]["top1"] > 0.9 and r["accuracy"]["reference_top1"] > 0.9
        assert r["accuracy"]["loss_abs"] == pytest.approx(r["accuracy"]["reference_top1"] - r["accuracy"]["top1"])
        if r["inferences_per_joule"] is not None:  # gross, where the idle power is known
            assert r["inferences_per_joule"] == pytest.approx(1 / r["energy_j_per_inference"])
        else:  # an estimate without an idle figure knows only the part above idle
            assert r["power"]["idle_w"] is None and r["power"]["avg_w"] is None
            assert r["inferences_per_joule_above_idle"] == pytest.approx(1 / r["energy_above_idle_j_per_inference"])
    front = [r for r in records if r["pareto_rank"] == 0]
    if not front and all(not r["valid"] and r["validity"]["reasons"] for r in records) and any(map(busy, records)):
        # a busy machine: other processes took the worker's CPUs, so the agent refused every window
        # (validity.reasons says so) and nothing is ranked or recommended; that is the honest answer
        assert doc["recommended"] is None
        return doc
    assert front, "the Pareto front is empty"
    rec = doc["recommended"]
    # on the front, unless one run cannot tell it from the front's best (then the reason says so)
    assert rec["id"] in {r["id"] for r in front} or "closer than one run can separate" in rec["reason"]
    html = (out / "report.html").read_text()
    assert doc["recommended"]["id"].split("/")[0] in html
    return doc


def busy(record: dict) -> bool:  # type: ignore[type-arg]
    """The agent marked the record invalid because other processes used the worker's CPUs."""
    reasons = (record.get("validity") or {}).get("reasons") or []
    return not record["valid"] and any(r.startswith("foreign load") for r in reasons)


def test_optimize_over_the_embedded_broker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_edgeprof(*optimize_args(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = check_results(out)
    assert "Recommended" in proc.stdout
    # every record was measured by the agent process and came back over MQTT
    assert all(r["device_id"].startswith("local-") for r in doc["variants"])

    # `report` rebuilds the same ranking from the database alone
    (out / "results.json").unlink()
    again = run_edgeprof("report", str(out))
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads((out / "results.json").read_text())
    assert [r["id"] for r in rebuilt["variants"]] == [r["id"] for r in doc["variants"]]
    assert (rebuilt["recommended"] or {}).get("id") == (doc["recommended"] or {}).get("id")


@pytest.mark.mqtt
def test_optimize_over_mosquitto(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    proc = run_edgeprof(*optimize_args(out, "--broker", mosquitto.url))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    check_results(out)


@pytest.mark.mqtt
def test_optimize_over_the_ci_mosquitto(tmp_path: Path, ci_mosquitto_url: str) -> None:
    out = tmp_path / "out"
    proc = run_edgeprof(*optimize_args(out, "--broker", ci_mosquitto_url))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    check_results(out)


def test_repeats_are_interleaved_and_each_record_carries_the_median_and_spread(tmp_path: Path) -> None:
    """--repeats 2: four jobs, round by round (fp32, int8, fp32, int8 on the one device), and each record
    the median of its two windows with their range."""
    from agent.protocol import BenchmarkResult, decode
    from pipeline.results_db import ResultsDB

    out = tmp_path / "out"
    proc = run_edgeprof(*optimize_args(out, "--repeats", "2"), timeout=400)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = check_results(out)
    for r in doc["variants"]:
        assert r["repeats"] == 2, r["id"]
        spread = r["spread"]
        assert spread["windows"] == 2 and "order statistics" in spread["method"]
        tput = spread["figures"]["throughput_ips"] if spread["n"] == 2 else None
        if tput is not None:  # both windows valid: the record's figure is their median
            assert len(tput["values"]) == 2 and tput["min"] <= tput["median"] <= tput["max"]
            assert r["throughput_ips"] == pytest.approx(sum(tput["values"]) / 2)
            assert (tput["ci_low"], tput["ci_high"]) == (tput["min"], tput["max"]) and tput["ci_coverage"] == 0.5
        assert any("median of" in n and "windows (--repeats" in n for n in r["notes"]), r["notes"]
    db = ResultsDB(out / "results.db")
    try:
        run = db.latest_run()
        assert run is not None
        results = sorted((decode(BenchmarkResult, p) for p in db.results_for_run(run)), key=lambda r: r.finished_at)
    finally:
        db.close()
    order = [r.variant_id for r in results]
    assert order in (["ort-fp32", "ort-int8-static"] * 2, ["ort-int8-static", "ort-fp32"] * 2), order
    assert "± spread" in (out / "report.html").read_text()
