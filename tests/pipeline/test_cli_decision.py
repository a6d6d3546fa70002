"""`edgeprof plan`, and the decision flags of `edgeprof report` and `optimize` (pipeline/cli_decision.py)."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from pipeline.cli import app

from .run_fixture import make_run

WIDE = {"COLUMNS": "240", "TERMINAL_WIDTH": "240"}


def test_plan_answers_for_a_workload_and_writes_plan_md_and_plan_json(tmp_path):
    out = make_run(tmp_path / "out")
    result = CliRunner().invoke(
        app, ["plan", str(out), "--rate", "600/min", "--p99-ms", "50", "--targets", "orin-01,nvidia-t4"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Plan: For 10 requests/s (Poisson arrivals), p99 ≤ 50 ms end to end: the cheapest configuration" in text
    assert "on nvidia-t4 (projected)" in text and "orin-01 (measured)" in text
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert plan["workload"]["rate_per_s"] == 10.0 and plan["workload"]["p99_ms"] == 50.0
    assert {o["kind"] for o in plan["options"]} == {"measured", "projected"}
    assert plan["cheapest"] and plan["answer"].startswith("For 10 requests/s")
    assert (out / "plan.md").read_text(encoding="utf-8").startswith("## edgeprof plan: digits_cnn.onnx")


def test_plan_needs_a_workload_and_a_run(tmp_path):
    out = make_run(tmp_path / "out")
    result = CliRunner().invoke(app, ["plan", str(out)])
    assert result.exit_code == 2 and "--rate 600/min" in result.stderr
    result = CliRunner().invoke(app, ["plan", str(tmp_path / "nowhere"), "--rate", "1/s", "--p99-ms", "10"])
    assert result.exit_code == 1 and "run `edgeprof optimize` or `edgeprof demo` first" in result.stderr
    result = CliRunner().invoke(app, ["plan", str(out), "--rate", "1/s"])
    assert result.exit_code == 1 and result.stderr.strip().endswith("pass --p99-ms (or run with --sla-p99-ms)")


def test_report_flags_change_the_ranking_and_the_csv_has_a_row_per_record(tmp_path):
    out = make_run(tmp_path / "out")
    result = CliRunner().invoke(
        app, ["report", str(out), "--pick", "knee", "--electricity-price", "0.3", "--csv", "-"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    assert "Recommendation rule: knee: the knee of the Pareto front" in " ".join(result.stdout.split())
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 4 and {r["target"] for r in rows} == {"jetson-orin-nano-8gb"}
    assert all(float(r["cost_usd_per_million_full_load"]) > 0 and r["roofline_bound"] for r in rows)
    assert result.stdout.count("id,variant_id,runtime") == 1  # --csv - wrote it to stdout too
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["ranking"]["rule"] == "knee" and doc["recommended"]["rule"] == "knee"
    assert doc["constraints"]["max_accuracy_loss_origin"] == "default"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "### Cost per inference" in md and "### Roofline" in md


def test_bad_decision_flags_are_one_line_errors(tmp_path):
    out = make_run(tmp_path / "out")
    result = CliRunner().invoke(app, ["report", str(out), "--objectives", "speed"])
    assert result.exit_code == 1 and result.stderr.startswith("edgeprof: error: --objectives: unknown objective")
    result = CliRunner().invoke(app, ["optimize", "m.onnx", "--out", str(tmp_path / "x"), "--pue", "0.5"])
    assert result.exit_code == 2 and "--pue must be a finite number >= 1" in result.stderr
    assert not (tmp_path / "x").exists()
