"""Rates, traces and the workload (pipeline/planner/workload.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.planner.workload import Workload, describe_rate, load_trace, parse_rate


@pytest.mark.parametrize(
    ("text", "per_s"),
    [
        ("600/min", 10.0),
        ("10/s", 10.0),
        ("36000/h", 10.0),
        ("10", 10.0),
        ("0.5/minute", 0.5 / 60),
        ("2/hours", 2 / 3600),
    ],
)
def test_rates_as_people_write_them(text, per_s):
    assert parse_rate(text) == pytest.approx(per_s)


@pytest.mark.parametrize("text", ["x", "10/day", "-1/s", "0", "/min"])
def test_bad_rates_say_what_is_expected(text):
    with pytest.raises(ValueError, match=r"600/min, 10/s or 36000/h|positive rate"):
        parse_rate(text)


def test_describe_rate():
    assert describe_rate(10 / 60) == "10 requests/min (0.167/s)"
    assert describe_rate(250.0) == "250 requests/s"


def test_a_trace_is_read_sorted_from_zero_with_a_header_and_comments(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("timestamp,route\n# recorded\n100.5,/a\n100.0,/b\n101.0\n", encoding="utf-8")
    assert load_trace(path).tolist() == [0.0, 0.5, 1.0]
    workload = Workload.from_trace(load_trace(path), 100.0, str(path))
    assert workload.rate_per_s == pytest.approx(2.0) and workload.arrivals_kind == f"the recorded trace {path}"


def test_bad_traces_name_the_line(tmp_path):
    path = tmp_path / "trace.txt"
    path.write_text("1.0\n2.0\nsoon\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3: 'soon' is not a time in seconds"):
        load_trace(path)
    path.write_text("1.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least two arrival times"):
        load_trace(path)
    with pytest.raises(ValueError, match="cannot read it"):
        load_trace(tmp_path / "absent.txt")


def test_window_rates_of_a_trace():
    arrivals = np.concatenate([np.linspace(0, 59.9, 60), np.linspace(60, 119.99, 600)])
    workload = Workload.from_trace(arrivals, 50.0, "t", window_s=60.0)
    assert workload.window_rates() == pytest.approx([1.0, 10.0])


def test_a_workload_checks_itself():
    with pytest.raises(ValueError, match="--p99-ms"):
        Workload(rate_per_s=1.0, p99_ms=0.0)
    with pytest.raises(ValueError, match="--peak-rate must be at least"):
        Workload(rate_per_s=10.0, p99_ms=10.0, peak_rate_per_s=5.0)
    with pytest.raises(ValueError, match="--budget"):
        Workload(rate_per_s=10.0, p99_ms=10.0, budget_usd_per_month=-1.0)
    text = Workload(rate_per_s=10.0, p99_ms=100.0, peak_rate_per_s=30.0, budget_usd_per_month=500).describe()
    assert text == "10 requests/s (Poisson arrivals), p99 ≤ 100 ms end to end, peak 30 requests/s, budget $500/month"
