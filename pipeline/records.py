"""From agent results to the public ``results.json`` document (one record per variant, device, batch).

The document's shape is a public contract, documented in README.md ("results.json"); the field
names here are that contract. Ranking and the recommendation are added by ``pipeline.pareto``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import asdict
from typing import Any

from agent.protocol import AgentStatus, BenchmarkResult
from pipeline import __version__
from pipeline.pareto import DEFAULT_OBJECTIVES, rank_records, recommend

SCHEMA_VERSION = 1


def _reference_top1(results: list[BenchmarkResult]) -> dict[tuple[str, str], float]:
    """(device, runtime) -> top-1 of the FP32 variant measured there."""
    ref = {}
    for r in results:
        if r.status == "ok" and r.precision == "fp32" and r.accuracy and r.accuracy.top1 is not None:
            ref[(r.device_id, r.runtime)] = r.accuracy.top1
    return ref


def _accuracy(
    result: BenchmarkResult, device_ref: dict[tuple[str, str], float], host_top1: float | None
) -> tuple[dict[str, Any] | None, list[str]]:
    acc = result.accuracy
    if acc is None:
        return None, ["accuracy not measured (no evaluation data)"]
    notes = []
    reference_top1 = device_ref.get((result.device_id, result.runtime))
    reference = f"fp32 measured on {result.device_id}"
    if reference_top1 is None:
        for (dev, _rt), top1 in device_ref.items():
            if dev == result.device_id:
                reference_top1, reference = top1, f"fp32 measured on {dev}"
                break
    if reference_top1 is None and host_top1 is not None:
        reference_top1, reference = host_top1, "fp32 computed on the host with ONNX Runtime CPU"
        notes.append("reference accuracy is the host's FP32 figure: no FP32 variant was measured on this device")
    loss, loss_kind = None, None
    if acc.top1 is not None and reference_top1 is not None:
        loss, loss_kind = reference_top1 - acc.top1, "top1"
    elif acc.agreement is not None:
        loss, loss_kind = 1.0 - acc.agreement, "fidelity"
        reference = "fp32 outputs (no labels): loss is 1 - top-1 agreement"
    return {
        "top1": acc.top1,
        "reference_top1": reference_top1,
        "loss_abs": loss,
        "loss_kind": loss_kind,
        "agreement": acc.agreement,
        "cosine": acc.cosine,
        "samples": acc.samples,
        "reference": reference,
    }, notes


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def build_records(
    results: list[BenchmarkResult],
    artifacts: dict[str, dict[str, Any]],
    devices: dict[str, AgentStatus],
    host_top1: float | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Flatten results into records; failed jobs become one line each in ``failed``."""
    device_ref = _reference_top1(results)
    records, failed = [], []
    for r in results:
        if r.status != "ok":
            failed.append({"variant_id": r.variant_id, "device_id": r.device_id, "error": r.error})
            continue
        accuracy, acc_notes = _accuracy(r, device_ref, host_top1)
        env_notes = [str(n) for n in r.environment.get("notes", [])]
        status = devices.get(r.device_id)
        art = artifacts.get(r.variant_id, {})
        for m in r.measurements:
            records.append(
                {
                    "id": f"{r.variant_id}/{r.device_id}/b{m.batch_size}",
                    "variant_id": r.variant_id,
                    "runtime": r.runtime,
                    "runtime_version": r.runtime_version,
                    "precision": r.precision,
                    "device_id": r.device_id,
                    "target": status.target if status and status.target else "",
                    "batch_size": m.batch_size,
                    "throughput_ips": m.throughput_ips,
                    "latency_ms": asdict(m.latency_ms),
                    "queries": m.queries,
                    "samples": m.samples,
                    "duration_s": m.duration_s,
                    "power": asdict(m.power) if m.power else None,
                    "energy_j_per_inference": _finite(m.energy_j_per_inference),
                    "inferences_per_joule": _finite(m.inferences_per_joule),
                    "accuracy": accuracy,
                    "artifact_sha256": art.get("sha256", ""),
                    "model_size_bytes": art.get("size_bytes"),
                    "pareto_rank": None,
                    "meets_sla": None,
                    "valid": m.valid,
                    "throttled": m.throttled,
                    "conditions": {"before": m.conditions_before, "after": m.conditions_after},
                    "notes": list(m.notes) + acc_notes + env_notes,
                }
            )
    return records, failed


def build_document(
    *,
    run_id: str,
    model: dict[str, Any],
    eval_info: dict[str, Any],
    records: list[dict[str, Any]],
    failed: list[dict[str, str]],
    devices: dict[str, AgentStatus],
    sla_p99_ms: float | None,
    max_accuracy_loss_abs: float | None,
) -> dict[str, Any]:
    constraints = {"sla_p99_ms": sla_p99_ms, "max_accuracy_loss_abs": max_accuracy_loss_abs}
    ranked = rank_records(records, DEFAULT_OBJECTIVES, constraints)
    return {
        "schema_version": SCHEMA_VERSION,
        "edgeprof_version": __version__,
        "run_id": run_id,
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": model,
        "eval": eval_info,
        "objectives": dict(DEFAULT_OBJECTIVES),
        "constraints": constraints,
        "devices": [
            {
                "device_id": s.device_id,
                "target": s.target,
                "hostname": s.hostname,
                "runtimes": s.runtimes,
                "power_sources": s.power_sources,
                "agent_version": s.agent_version,
            }
            for s in devices.values()
        ],
        "variants": ranked,
        "failed": failed,
        "recommended": recommend(ranked, constraints),
    }
