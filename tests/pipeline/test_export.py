"""results.json and the output files (pipeline/export.py): the documented contract, field for field."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from rich.console import Console

from agent.protocol import AccuracyReport
from pipeline.export import SCHEMA_VERSION, results_document, write_outputs
from pipeline.rank import NOT_RANKED
from pipeline.summary import Failure, Unfinished, summarize

from .sample_results import MODEL, device_status, record, result, summary

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_fields() -> tuple[set[str], set[str]]:
    """(top-level keys, record keys) as README.md's results.json section names them."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## `results.json`", 1)[1].split("\n## ", 1)[0]
    top = section.split("Top level:", 1)[1].split("\n\n", 1)[0]
    top = top.split("Changes within", 1)[0]  # the note on additions names record fields too
    top_level = set(re.findall(r"`([a-z_0-9]+)`", top)) - {"max", "min", "pareto_rank"}
    record_fields: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            record_fields |= set(re.findall(r"`([a-z_0-9]+)`", first_cell))
    return top_level, record_fields


def round_trip(run) -> dict:
    return json.loads(json.dumps(results_document(run), allow_nan=False))


def sample():
    return summary(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100, precision="fp32"),
            record("int8-static", ipj=430.1, loss=0.003, p99=2.3, tput=4210.5),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200, notes=["spread 12%"]),
        ],
        sla=5.0,
        max_loss=0.01,
        failed=[Failure("int8-per-channel", "local-myhost", "needs opset 13+")],
        unfinished=[Unfinished("job-7", "fp16", "local-myhost", "queued", "device went offline")],
    )


def test_the_document_has_exactly_the_documented_fields():
    top_level, record_fields = documented_fields()
    assert {"schema_version", "variants", "unfinished", "recommended"} <= top_level  # the parser works
    assert {"id", "artifact_kind", "runtime_settings", "pareto_rank", "notes"} <= record_fields
    doc = round_trip(sample())
    assert set(doc) == top_level
    for variant in doc["variants"]:
        assert set(variant) == record_fields


def test_nested_fields_keep_their_names():
    doc = round_trip(sample())
    v = doc["variants"][0]
    assert set(v["latency_ms"]) == {"p50", "p90", "p99", "mean", "min", "max", "stdev"}
    assert set(v["power"]) == {
        "avg_w",
        "energy_j",
        "source",
        "estimated",
        "samples",
        "rate_hz",
        "idle_w",
        "method",
        "rails_w",
        "above_idle_w",
        "energy_above_idle_j",
        "idle_source",
        "nominal_rate_hz",
        "max_gap_s",
        "timestamp_uncertainty_s",
        "energy_uncertainty_j",
    }
    assert set(v["accuracy"]) == {
        "top1", "reference_top1", "loss_abs", "loss_kind", "agreement", "cosine", "samples", "reference",
    }  # fmt: skip
    assert set(v["conditions"]) == {"before", "after"}
    assert doc["constraints"] == {
        "sla_p99_ms": 5.0, "max_accuracy_loss_abs": 0.01, "max_accuracy_loss_origin": "user", "max_memory_mb": None,
    }  # fmt: skip
    assert doc["objectives"] == {
        "inferences_per_joule": "max", "throughput_at_sla_ips": "max", "accuracy_loss_abs": "min",
        "cost_usd_per_million": "min",
    }  # fmt: skip
    assert doc["failed"] == [
        {"variant_id": "int8-per-channel", "device_id": "local-myhost", "error": "needs opset 13+"}
    ]
    assert doc["unfinished"] == [
        {
            "job_id": "job-7",
            "variant_id": "fp16",
            "device_id": "local-myhost",
            "state": "queued",
            "reason": "device went offline",
        }
    ]
    assert doc["devices"] == [
        {
            "device_id": "local-myhost", "target": "generic-x86_64", "hostname": "myhost",
            "runtimes": {"onnxruntime": "1.32.0"}, "power_sources": ["estimate"], "agent_version": "0.1.0",
        }
    ]  # fmt: skip


def test_values_ranks_verdicts_notes_and_recommendation():
    doc = round_trip(sample())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["run_id"] == "20261126-131500-ab12" and doc["created_at"] == "2026-11-26T13:15:00Z"
    assert doc["model"] == MODEL
    by_id = {v["id"]: v for v in doc["variants"]}
    int8, dyn = by_id["int8-static/local-myhost/b8"], by_id["int8-dynamic/local-myhost/b8"]
    assert (int8["pareto_rank"], int8["meets_sla"]) == (0, True)
    assert (dyn["pareto_rank"], dyn["meets_sla"]) == (None, False)
    assert dyn["notes"] == ["spread 12%", NOT_RANKED + "p99 7.5 ms exceeds the 5 ms SLA"]
    assert int8["accuracy"]["loss_abs"] == 0.003 and int8["accuracy"]["loss_kind"] == "top1"
    assert int8["power"]["estimated"] is True and int8["inferences_per_joule"] == 430.1
    assert int8["artifact_kind"] == "onnx"
    assert int8["runtime_settings"] == {"intra_op_num_threads": 2, "providers": ["CPUExecutionProvider"]}
    assert doc["recommended"]["id"] == "int8-static/local-myhost/b8" and "430 inf/J" in doc["recommended"]["reason"]


def test_figures_that_are_not_finite_are_null_and_nothing_recommended_is_null():
    doc = round_trip(summary([record("a", p99=None)], sla=1.0))
    assert doc["variants"][0]["latency_ms"]["p99"] is None
    assert doc["recommended"] is None
    assert doc["unfinished"] == [] and doc["failed"] == []


def test_a_document_from_agent_results():
    run = summarize(
        [result("fp32", "fp32", AccuracyReport(samples=100, top1=0.98), artifact_kind="onnx")],
        run_id="run", model=MODEL, eval_info={"source": "e.npz", "samples": 100, "has_labels": True},
        artifacts={"fp32": {"sha256": "ef" * 32, "size_bytes": 10, "kind": "onnx"}},
        devices={"dev": device_status("dev")}, host_top1=None, build_failures=[], unfinished=[],
        sla_p99_ms=None, max_accuracy_loss=None,
    )  # fmt: skip
    (v,) = round_trip(run)["variants"]
    assert (v["artifact_sha256"], v["model_size_bytes"], v["target"]) == ("ef" * 32, 10, "generic-x86_64")
    assert v["accuracy"]["reference"] == "fp32 measured on dev" and v["accuracy"]["loss_abs"] == 0.0


def test_write_outputs_writes_every_file_readable_by_others_and_prints_the_report(tmp_path):
    saved = os.umask(0o022)
    try:
        console = Console(record=True, width=160, color_system=None)
        write_outputs(tmp_path / "out", sample(), console)
    finally:
        os.umask(saved)
    results, report = tmp_path / "out" / "results.json", tmp_path / "out" / "report.html"
    csv_file, markdown = tmp_path / "out" / "results.csv", tmp_path / "out" / "report.md"
    assert json.loads(results.read_text(encoding="utf-8"))["schema_version"] == 2
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert csv_file.read_text(encoding="utf-8").startswith("id,variant_id,")
    assert markdown.read_text(encoding="utf-8").startswith("## edgeprof: digits_cnn.onnx")
    for path in (results, report, csv_file, markdown):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.html", "report.md", "results.csv", "results.json",
    ]  # fmt: skip
    out = console.export_text()
    assert "Recommended: int8-static/local-myhost/b8" in out and str(results) in out


def test_the_decision_reaches_results_json(tmp_path):
    from .report.decision_run import decision_run

    run = decision_run(tmp_path)
    doc = round_trip(run)
    v = next(v for v in doc["variants"] if v["id"] == run.recommendation.id)
    assert v["cost"]["pricing"] == "purchase" and v["cost"]["usd_per_million_at_load"] > 0
    assert {i["name"] for i in v["cost"]["inputs"]} >= {"purchase_price", "electricity_price", "utilisation"}
    assert v["roofline"]["bound"] in ("memory", "compute") and 0 < v["roofline"]["fraction"]
    assert v["memory_fit"]["capacity_bytes"] == 8e9
    assert v["figure_kinds"]["cost_usd_per_million"] == "estimated" and v["target_pareto_rank"] is not None
    assert doc["recommended"]["rule"] == "cheapest" and doc["recommended_per_target"] == {}
    plan = doc["plan"]
    assert plan["workload"] == {
        "rate_per_s": 10.0, "p99_ms": 50.0, "arrivals": "poisson", "trace": None, "peak_rate_per_s": None,
        "budget_usd_per_month": None,
    }  # fmt: skip
    assert plan["cheapest"] == run.plan.cheapest.label and plan["options"][0]["devices"] == 1
    assert plan["options"][0]["cost_inputs"][0]["provenance"].startswith("jetson-orin-nano-8gb price.purchase")
