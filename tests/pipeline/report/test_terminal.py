"""The terminal report (pipeline/report/terminal.py), read back through rich's text export."""

from __future__ import annotations

import dataclasses
import io
import math

import pytest
from rich.console import Console

from agent.protocol import AgentStatus, LatencyStats, PowerReport
from pipeline.report.terminal import render_table
from pipeline.summary import Failure, Unfinished

from ..sample_results import record, summary

LONG_VARIANT = "ort-int8-static-per-channel-minmax-reduce-range-preprocessed"
LONG_DEVICE = "jetson-orin-nano-devkit-lab-bench-07"


def render(run, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_table(run, console)
    return console.export_text()


def sample():
    return summary(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100),
            record("int8-static", ipj=430.1, loss=0.003, p99=2.3, tput=4210.5),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200),
        ],
        sla=5.0,
        failed=[Failure("int8-per-channel", "local-myhost", "needs opset 13+")],
    )


def test_headers_have_units():
    out = render(sample())
    for header in ("inf/s", "p50 ms", "p99 ms", " W ", "inf/J", "top-1 %", "loss pp"):
        assert header in out


def test_rows_sorted_front_first_with_figures():
    lines = render(sample()).splitlines()
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
    out = render(summary([record("a", p99=9.0), record("b", p99=8.0)], sla=1.0))
    assert "Recommended: none" in out


def test_missing_power_and_labels_show_dashes_and_say_so():
    out = render(summary([record("a", power=False, loss=None, agreement=0.99), record("b", power=False, tput=2000)]))
    row = next(line for line in out.splitlines() if line.lstrip().startswith("a "))
    assert row.count("–") >= 3  # power, inf/J, top-1
    assert "1.0†" in row  # fidelity loss, marked
    assert "without a power figure" in out
    assert "ranked on throughput" in out


def test_strings_are_not_markup():
    out = render(summary([record("int8", device="[bold red]evil[/bold red]", notes=["[link=x]click[/link]"])]))
    assert "[bold red]evil[/bold red]" in out
    assert "[link=x]click[/link]" in out


def test_empty_run():
    out = render(summary([]))
    assert "Recommended: none" in out and "No measurements" in out


def test_odd_values_do_not_crash():
    nan = math.nan
    run = sample()
    odd = [
        dataclasses.replace(run.records[0], latency_ms=LatencyStats(nan, nan, nan, nan, nan, nan, nan)),
        dataclasses.replace(
            run.records[1],
            power=PowerReport(avg_w=nan, source="", estimated=False, samples=0, rate_hz=nan, energy_j=nan),
            throughput_ips=math.inf,
        ),
        dataclasses.replace(run.records[2], accuracy=None, runtime_version="", target=""),
    ]
    run = summary(odd, sla=5.0)
    run = dataclasses.replace(run, devices={"": AgentStatus(device_id="", state="offline")})
    out = render(run)
    assert "Recommended:" in out


def test_unfinished_jobs_are_named():
    jobs = [
        Unfinished("job-1", "fp16", "local-myhost", "queued", "device went offline"),
        Unfinished("job-2", "int8-dynamic", "dev-b", "delivered", "no result within the 600 s deadline"),
        Unfinished("job-3", "prune50", "dev-b", "running", "no result within the 600 s deadline"),
    ]
    out = render(summary([record("fp32")], unfinished=jobs))
    assert "3 jobs issued for this run never reported: fp16 on local-myhost (queued)" in out
    assert "job job-2: int8-dynamic on dev-b, delivered: no result within the 600 s deadline" in out
    assert "job-3" in out


def long_ids_run():
    return summary(
        [
            record(LONG_VARIANT, device=LONG_DEVICE, ipj=430.1, tput=4210.5, loss=0.003, notes=["too few samples"]),
            record("fp32", device="dev-b", ipj=210, tput=2100),
        ],
        device=LONG_DEVICE,
    )


@pytest.mark.parametrize("width", [20, 40, 80])
def test_ids_are_never_cut_or_folded_on_a_narrow_console(width):
    run = long_ids_run()
    out = render(run, width=width)
    lines = out.splitlines()
    assert any(LONG_VARIANT in line for line in lines), "variant id cut or folded in the table"
    assert any(LONG_DEVICE in line for line in lines), "device id cut or folded in the table"
    record_id = f"{LONG_VARIANT}/{LONG_DEVICE}/b8"
    assert any(record_id in line for line in lines), "record id cut or folded"
    assert "…" not in out
    assert any("4,210" in line for line in lines)  # figures are not cut either


def test_ids_are_whole_on_a_wide_console_that_is_not_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, force_terminal=False, color_system=None)
    assert not console.is_terminal
    render_table(long_ids_run(), console)
    out = buffer.getvalue()
    row = next(line for line in out.splitlines() if LONG_VARIANT in line)
    assert LONG_DEVICE in row and "★" in row  # one row, whole
    assert f"Recommended: {LONG_VARIANT}/{LONG_DEVICE}/b8" in out
    assert "…" not in out
