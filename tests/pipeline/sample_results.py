"""Builders for agent results, records and run summaries, shared by the ranking and report tests."""

from __future__ import annotations

import math
from typing import Any

from agent.protocol import AccuracyReport, AgentStatus, BenchmarkResult, LatencyStats, Measurement, PowerReport
from pipeline.accuracy_loss import Accuracy
from pipeline.constraints import Constraints
from pipeline.objectives import ACCURACY_LOSS, INFERENCES_PER_JOULE, LATENCY_P99
from pipeline.record import Record
from pipeline.summary import Failure, RunSummary, Unfinished, summarize_records

RUN_ID = "20261126-131500-ab12"
CREATED_AT = "2026-11-26T13:15:00Z"
#: The objectives the ranking mechanics are tested under (the defaults before cost and throughput at
#: the p99 target joined them): efficiency, accuracy, tail latency.
CLASSIC_OBJECTIVES = (INFERENCES_PER_JOULE, ACCURACY_LOSS, LATENCY_P99)
MODEL = {
    "name": "digits_cnn.onnx",
    "sha256": "ab" * 32,
    "inputs": [{"name": "image", "shape": ["batch", 1, 32, 32], "dtype": "float32"}],
    "outputs": [{"name": "logits", "shape": ["batch", 10], "dtype": "float32"}],
    "opset": 17,
    "flops_per_inference": 95000000,
}


def record(
    variant: str,
    batch: int = 8,
    *,
    device: str = "local-myhost",
    ipj: float | None = 100.0,
    tput: float = 1000.0,
    p99: float | None = 2.0,
    p50: float | None = None,
    loss: float | None = 0.0,
    agreement: float | None = 1.0,
    top1: float | None = None,
    reference_top1: float = 0.981,
    estimated: bool = True,
    source: str | None = None,
    power: bool = True,
    valid: bool = True,
    runtime: str = "onnxruntime",
    precision: str | None = None,
    notes: list[str] | None = None,
    accuracy: bool = True,
) -> Record:
    """A record with only the figures the tests vary as arguments.

    ``p50`` defaults to 0.8 × p99; a None ``p99`` is NaN, as a figure the window could not give.
    ``top1`` defaults to ``reference_top1 - loss``; ``source`` to ``estimate:cpu-load`` for an
    estimated power figure and ``rapl`` for a measured one. Without a labelled ``loss`` the top-1
    figures are None (an unlabelled eval set) and the loss is fidelity, ``1 - agreement``.
    """
    watts = tput / ipj if (power and ipj) else None
    if source is None:
        source = "estimate:cpu-load" if estimated else "rapl"
    if top1 is None and loss is not None:
        top1 = reference_top1 - loss
    p99_ms = math.nan if p99 is None else p99
    if loss is not None:
        acc = Accuracy(
            top1=top1, reference_top1=reference_top1, loss=loss, loss_kind="top1", agreement=agreement,
            cosine=0.999, samples=540, reference="fp32 measured on " + device,
        )  # fmt: skip
    else:
        fidelity = None if agreement is None else 1.0 - agreement
        acc = Accuracy(
            top1=None, reference_top1=None, loss=fidelity, loss_kind="fidelity" if fidelity is not None else None,
            agreement=agreement, cosine=0.999, samples=540,
            reference="fp32 outputs (no labels): loss is 1 - top-1 agreement",
        )  # fmt: skip
    return Record(
        id=f"{variant}/{device}/b{batch}",
        variant_id=variant,
        runtime=runtime,
        runtime_version="1.32.0",
        precision=precision or variant,
        device_id=device,
        target="generic-x86_64",
        batch_size=batch,
        throughput_ips=tput,
        latency_ms=LatencyStats(
            p50=(p99 or 2.0) * 0.8 if p50 is None else p50,
            p90=p99_ms,
            p99=p99_ms,
            mean=1.0,
            min=0.5,
            max=p99_ms,
            stdev=0.1,
        ),  # fmt: skip
        queries=2300,
        samples=2300 * batch,
        duration_s=2.01,
        power=None
        if watts is None
        else PowerReport(
            avg_w=watts,
            source=source,
            estimated=estimated,
            samples=40,
            rate_hz=20.0,
            energy_j=watts * 2.01,
            method="CPU busy fraction (assumed)",
        ),  # fmt: skip
        energy_j_per_inference=(1 / ipj) if (power and ipj) else None,
        inferences_per_joule=ipj if power else None,
        accuracy=acc if accuracy else None,
        artifact_sha256="cd" * 32,
        model_size_bytes=1_234_567,
        artifact_kind="onnx",
        runtime_settings={"intra_op_num_threads": 2, "providers": ["CPUExecutionProvider"]},
        valid=valid,
        notes=tuple(notes or ()),
    )


def device_status(device: str = "local-myhost") -> AgentStatus:
    return AgentStatus(
        device_id=device, state="online", agent_version="0.1.0", runtimes={"onnxruntime": "1.32.0"},
        power_sources=["estimate"], target="generic-x86_64", hostname="myhost",
    )  # fmt: skip


def summary(
    records: list[Record],
    *,
    sla: float | None = None,
    max_loss: float | None = None,
    failed: list[Failure] | None = None,
    unfinished: list[Unfinished] | None = None,
    device: str = "local-myhost",
    has_labels: bool = True,
    **kwargs: Any,
) -> RunSummary:
    """A whole run: the records ranked and a recommendation made under ``sla`` and ``max_loss``."""
    return summarize_records(
        records,
        run_id=RUN_ID,
        model=MODEL,
        eval_info={"source": "calibration_data/digits/eval.npz", "samples": 540, "has_labels": has_labels},
        devices={device: device_status(device)},
        failures=failed or [],
        unfinished=unfinished or [],
        constraints=Constraints(sla_p99_ms=sla, max_accuracy_loss=max_loss),
        created_at=CREATED_AT,
        **kwargs,
    )


LAT = LatencyStats(p50=1, p90=2, p99=3, mean=1.5, min=0.5, max=4, stdev=0.2)


def result(
    variant: str,
    precision: str,
    accuracy: AccuracyReport | None,
    *,
    device: str = "dev",
    runtime: str = "onnxruntime",
    status: str = "ok",
    batches: tuple[int, ...] = (1,),
    finished_at: float = 1.0,
    **fields: Any,
) -> BenchmarkResult:
    """An agent's result for one variant, one measurement per batch size."""
    measurements = [
        Measurement(
            batch_size=b,
            throughput_ips=10.0 * b,
            latency_ms=LAT,
            queries=20,
            samples=20 * b,
            duration_s=2.0,
            valid=True,
        )  # fmt: skip
        for b in batches
    ]
    return BenchmarkResult(
        result_id=f"{variant}-{device}-{finished_at:g}r".replace(".", "_"), job_id=f"{variant}-{device}j",
        run_id="run", variant_id=variant, device_id=device, status=status, runtime=runtime, precision=precision,
        started_at=0.0, finished_at=finished_at, agent_version="0",
        measurements=measurements if status == "ok" else [], accuracy=accuracy, **fields,
    )  # fmt: skip
