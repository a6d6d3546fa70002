"""From agent results to records: the reference accuracy and the kind of loss."""

from __future__ import annotations

from agent.protocol import AccuracyReport, BenchmarkResult, LatencyStats, Measurement
from pipeline.pareto import loss_is_fidelity
from pipeline.records import build_records

LAT = LatencyStats(1, 2, 3, 1.5, 0.5, 4, 0.2)


def result(variant: str, precision: str, accuracy: AccuracyReport) -> BenchmarkResult:
    m = Measurement(
        batch_size=1, throughput_ips=10.0, latency_ms=LAT, queries=20, samples=20, duration_s=2.0, valid=True
    )
    return BenchmarkResult(
        result_id=variant + "r", job_id=variant + "j", run_id="run", variant_id=variant, device_id="dev",
        status="ok", runtime="onnxruntime", precision=precision, started_at=0.0, finished_at=1.0,
        agent_version="0", measurements=[m], accuracy=accuracy,
    )  # fmt: skip


def test_loss_is_against_the_fp32_measured_on_the_same_device() -> None:
    records, failed = build_records(
        [
            result("fp32", "fp32", AccuracyReport(samples=100, top1=0.98, agreement=1.0)),
            result("int8", "int8-static", AccuracyReport(samples=100, top1=0.95, agreement=0.96)),
        ],
        {},
        {},
        host_top1=0.99,
    )
    int8 = next(r for r in records if r["variant_id"] == "int8")
    assert failed == []
    assert int8["accuracy"]["reference_top1"] == 0.98
    assert abs(int8["accuracy"]["loss_abs"] - 0.03) < 1e-12 and int8["accuracy"]["loss_kind"] == "top1"
    assert not loss_is_fidelity(int8)


def test_without_labels_the_loss_is_fidelity_and_says_so() -> None:
    records, _ = build_records(
        [result("int8", "int8-static", AccuracyReport(samples=100, top1=None, agreement=0.9))], {}, {}, None
    )
    acc = records[0]["accuracy"]
    assert abs(acc["loss_abs"] - 0.1) < 1e-12 and acc["loss_kind"] == "fidelity"
    assert loss_is_fidelity(records[0])
