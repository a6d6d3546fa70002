"""A results database holding one finished run, as the main job leaves it: the run's metadata with
its decision options and graph counts, the agent's results, the device's status. For the tests of
``edgeprof report``, ``edgeprof plan`` and :mod:`pipeline.run_summary`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.protocol import (
    MANIFEST_MEDIA_TYPE,
    AccuracyReport,
    ArtifactRef,
    BenchmarkJob,
    BenchmarkResult,
    LatencyStats,
    Measurement,
    PowerReport,
    encode,
)
from pipeline.results_db import ResultsDB
from pipeline.roofline import count_builds

from .passes.models import build_tiny_cnn
from .sample_results import MODEL, device_status

RUN = "20261126-131500-ab12"
DEVICE = "orin-01"


def _result(variant: str, precision: str, ms_by_batch: dict[int, float], top1: float, watts: float) -> BenchmarkResult:
    measurements = []
    for batch, ms in ms_by_batch.items():
        spread = LatencyStats(p50=ms, p90=ms * 1.1, p99=ms * 1.2, mean=ms, min=ms * 0.9, max=ms * 1.3, stdev=0.1)
        tput = batch / (ms / 1000.0)
        power = PowerReport(
            avg_w=watts, source="ina3221:VDD_IN", estimated=False, samples=200, rate_hz=100.0, energy_j=watts * 2.0,
            idle_w=4.5,
        )  # fmt: skip
        measurements.append(
            Measurement(
                batch_size=batch, throughput_ips=tput,
                latency_ms=spread,
                queries=500, samples=500 * batch, duration_s=2.0, valid=True, power=power,
                energy_j_per_inference=watts / tput, inferences_per_joule=tput / watts,
            )
        )  # fmt: skip
    return BenchmarkResult(
        result_id=f"{variant}-r", job_id=f"{variant}-j", run_id=RUN, variant_id=variant, device_id=DEVICE,
        status="ok", runtime="onnxruntime", precision=precision, started_at=0.0, finished_at=1.0, agent_version="0.1.0",
        measurements=measurements, accuracy=AccuracyReport(samples=500, top1=top1), artifact_kind="onnx",
    )  # fmt: skip


def _job(result: BenchmarkResult) -> BenchmarkJob:
    model = ArtifactRef("ab" * 32, "http://127.0.0.1:1/objects/" + "ab" * 32, 140_000, MANIFEST_MEDIA_TYPE)
    return BenchmarkJob(
        job_id=result.job_id, run_id=RUN, variant_id=result.variant_id, device_id=DEVICE, issued_at=0.0,
        expires_at=1e12, model=model, runtime=result.runtime, precision=result.precision, batch_sizes=[1, 8],
    )  # fmt: skip


def make_run(out: Path, decision: dict[str, Any] | None = None, counted: bool = True, stored: bool = False) -> Path:
    """``out/results.db`` with one run of two builds of the tiny test CNN on a Jetson Orin Nano; the
    graph counts in the run's metadata unless not ``counted``; the builds in ``out/artifacts`` if ``stored``."""
    out.mkdir(parents=True, exist_ok=True)
    model = build_tiny_cnn(out / "tiny.onnx")
    sha = "ab" * 32
    if stored:
        from pipeline.store import ArtifactStore

        sha = ArtifactStore(out / "artifacts").put_build("onnx", {"model": model}, names={"model": "model.onnx"}).sha256
    meta: dict[str, Any] = {
        "model": MODEL,
        "eval": {"source": "eval.npz", "samples": 500, "has_labels": True},
        "artifacts": {v: {"sha256": sha, "size_bytes": 140_000, "kind": "onnx"} for v in ("fp32", "int8")},
        "host_top1": 0.98,
        "metric": "top1",
        "sla_p99_ms": None,
        "max_accuracy_loss": None,
        "failed": [],
        "decision": decision or {},
    }
    if counted:
        meta["graph_counts"] = count_builds([("fp32", "onnx", model), ("int8", "onnx", model)], model, [1, 8])
    db = ResultsDB(out / "results.db")
    try:
        db.add_run(RUN, "ab" * 32, meta)
        results = [
            _result("fp32", "fp32", {1: 2.0, 8: 6.0}, 0.98, 9.0),
            _result("int8", "int8-static", {1: 1.0, 8: 3.0}, 0.976, 8.0),
        ]
        db.add_jobs([_job(r) for r in results])  # the host stores results only for jobs it issued
        for r in results:
            db.add_result(r)
        status = device_status(DEVICE)
        db.set_device(DEVICE, encode(type(status)(**{**status.__dict__, "target": "jetson-orin-nano-8gb"})).decode())
    finally:
        db.close()
    return out
