"""The terminal table (pipeline/report/terminal.py), read back through rich's text export."""

from __future__ import annotations

from rich.console import Console

from pipeline.report.terminal import render_table

from ..sample_results import document, record


def render(doc: dict) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_table(doc, console)
    return console.export_text()


def sample() -> dict:
    return document(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100),
            record("int8-static", ipj=430.1, loss=0.003, p99=2.3, tput=4210.5),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200),
        ],
        sla=5.0,
        failed=[{"variant_id": "int8-per-channel", "device_id": "local-myhost", "error": "needs opset 13+"}],
    )


def test_headers_have_units():
    out = render(sample())
    for header in ("inf/s", "p50 ms", "p99 ms", " W ", "inf/J", "top-1 %", "loss pp"):
        assert header in out


def test_rows_sorted_front_first_with_figures():
    out = render(sample())
    lines = out.splitlines()
    int8 = next(i for i, line in enumerate(lines) if "int8-static" in line and "4,210" in line)
    fp32 = next(i for i, line in enumerate(lines) if line.lstrip().startswith("fp32"))
    dyn = next(i for i, line in enumerate(lines) if line.lstrip().startswith("int8-dynamic"))
    assert int8 < fp32 < dyn  # front by inferences per joule, then the record outside the SLA
    assert "★" in lines[int8] and "~430" in lines[int8] and "0.3" in lines[int8]
    assert "–" in lines[dyn]  # not ranked: its p99 breaks the SLA


def test_recommendation_and_provenance_lines():
    out = render(sample())
    assert "Recommended: int8-static/local-myhost/b8" in out
    assert "430 inf/J" in out
    assert "Power: estimate:cpu-load: ESTIMATED, not measured" in out
    assert "40 samples" in out
    assert "Failed (1):" in out and "int8-per-channel on local-myhost: needs opset 13+" in out
    assert "exceeds the 5 ms SLA" in out
    assert "Constraints: p99 ≤ 5 ms" in out


def test_no_recommendation():
    doc = document([record("a", p99=9.0), record("b", p99=8.0)], sla=1.0)
    out = render(doc)
    assert "Recommended: none" in out


def test_missing_power_and_labels_show_dashes_and_say_so():
    doc = document([record("a", power=False, loss=None, agreement=0.99), record("b", power=False, tput=2000)])
    out = render(doc)
    row = next(line for line in out.splitlines() if line.lstrip().startswith("a "))
    assert row.count("–") >= 3  # power, inf/J, top-1
    assert "1.0†" in row  # fidelity loss, marked
    assert "without a power figure" in out
    assert "ranked on throughput" in out


def test_document_strings_are_not_markup():
    doc = document([record("int8", device="[bold red]evil[/bold red]", notes=["[link=x]click[/link]"])])
    out = render(doc)
    assert "[bold red]evil[/bold red]" in out
    assert "[link=x]click[/link]" in out


def test_empty_document():
    out = render({"variants": [], "failed": [], "recommended": None})
    assert "Recommended: none" in out and "No measurements" in out


def test_odd_values_do_not_crash():
    doc = sample()
    doc["variants"][0]["latency_ms"] = None
    doc["variants"][1]["power"] = {"avg_w": float("nan"), "estimated": None}
    doc["variants"][2]["accuracy"] = None
    doc["variants"][2]["batch_size"] = "8"
    doc["devices"] = [{"device_id": None, "runtimes": "onnxruntime"}]
    out = render(doc)
    assert "Recommended:" in out
