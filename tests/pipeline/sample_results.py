"""Builders for results.json records and documents, shared by the Pareto and report tests."""

from __future__ import annotations

from pipeline.pareto import DEFAULT_OBJECTIVES, rank_records, recommend


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
) -> dict:
    """A results record as in results.json, with only the figures the tests vary as arguments.

    ``p50`` defaults to 0.8 × p99; ``top1`` to ``reference_top1 - loss``; ``source`` to
    ``estimate:cpu-load`` for an estimated power figure and ``rapl`` for a measured one. Without a
    labelled ``loss`` the top-1 figures are None (an unlabelled eval set).
    """
    watts = tput / ipj if (power and ipj) else None
    if source is None:
        source = "estimate:cpu-load" if estimated else "rapl"
    if top1 is None and loss is not None:
        top1 = reference_top1 - loss
    return {
        "id": f"{variant}/{device}/b{batch}",
        "variant_id": variant,
        "runtime": runtime,
        "runtime_version": "1.32.0",
        "precision": precision or variant,
        "device_id": device,
        "target": "generic-x86_64",
        "batch_size": batch,
        "throughput_ips": tput,
        "latency_ms": {"p50": (p99 or 2.0) * 0.8 if p50 is None else p50, "p90": p99, "p99": p99, "mean": 1.0},
        "queries": 2300,
        "samples": 2300 * batch,
        "duration_s": 2.01,
        "power": None
        if not power
        else {
            "avg_w": watts,
            "source": source,
            "estimated": estimated,
            "samples": 40,
            "rate_hz": 20.0,
            "energy_j": None,
            "idle_w": None,
            "method": "CPU busy fraction (assumed)",
            "rails_w": {},
        },
        "energy_j_per_inference": (1 / ipj) if (power and ipj) else None,
        "inferences_per_joule": ipj if power else None,
        "accuracy": {
            "top1": top1 if loss is not None else None,
            "reference_top1": reference_top1 if loss is not None else None,
            "loss_abs": loss,
            "agreement": agreement,
            "cosine": 0.999,
            "samples": 540,
            "reference": "fp32",
        },
        "valid": valid,
        "notes": list(notes or []),
    }


def document(
    records: list[dict],
    *,
    sla: float | None = None,
    failed: list[dict] | None = None,
    device: str = "local-myhost",
    has_labels: bool = True,
) -> dict:
    """A whole results.json document: the records ranked and a recommendation made under ``sla``."""
    constraints = {"sla_p99_ms": sla, "max_accuracy_loss_abs": None}
    ranked = rank_records(records, DEFAULT_OBJECTIVES, constraints)
    return {
        "schema_version": 1,
        "edgeprof_version": "0.1.0",
        "run_id": "20261126-131500-ab12",
        "created_at": "2026-11-26T13:15:00Z",
        "model": {
            "name": "digits_cnn.onnx",
            "sha256": "ab" * 32,
            "inputs": [{"name": "image", "shape": ["batch", 1, 32, 32], "dtype": "float32"}],
            "flops_per_inference": 95000000,
        },
        "eval": {"source": "calibration_data/digits/eval.npz", "samples": 540, "has_labels": has_labels},
        "objectives": dict(DEFAULT_OBJECTIVES),
        "constraints": constraints,
        "devices": [
            {
                "device_id": device,
                "target": "generic-x86_64",
                "hostname": "myhost",
                "runtimes": {"onnxruntime": "1.32.0"},
                "power_sources": ["estimate"],
            }
        ],
        "variants": ranked,
        "failed": failed or [],
        "recommended": recommend(ranked, constraints),
    }
