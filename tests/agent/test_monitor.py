"""Monitor mode (agent/monitor.py): real /proc sampling of a process and of the machine, and its
summary read back by the host's cost model (`edgeprof report --monitor-summary`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app as agent_app
from agent.errors import AgentError
from agent.monitor import Monitor, machine_cpu_ticks, parse_duration, write_summary


def test_durations_read_like_people_write_them() -> None:
    assert parse_duration("10m") == 600 and parse_duration("30s") == 30 and parse_duration("1.5h") == 5400
    assert parse_duration("500ms") == 0.5 and parse_duration("12") == 12
    for bad in ("ten minutes", "-3s", "0s", "3d"):
        with pytest.raises(AgentError, match="30s, 10m, 1h|more than zero"):
            parse_duration(bad)


@pytest.fixture()
def spinner():  # type: ignore[no-untyped-def]
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture()
def sleeper():  # type: ignore[no-untyped-def]
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_spinning_process_is_busy_and_a_sleeping_one_is_not(spinner: int, sleeper: int) -> None:
    busy = Monitor(1.2, 0.3, pid=spinner).run()
    idle = Monitor(1.2, 0.3, pid=sleeper).run()
    # one CPU the whole time is 1; on a shared 2-core machine the spinner gets what the others leave it
    assert busy["utilisation"] > 0.25, busy
    assert idle["utilisation"] < 0.05, idle
    assert busy["samples"] == 4 and busy["pid"] == spinner and f"/proc/{spinner}/stat" in busy["source"]
    assert busy["memory"]["what"] == "VmRSS of the process" and busy["memory"]["max"] > 1  # MiB
    assert 1.1 < busy["window_s"] < 5


def test_the_machine_figure_counts_every_cpu(spinner: int) -> None:
    summary = Monitor(1.0, 0.5).run()
    assert summary["cpu"]["cpus"] == int(machine_cpu_ticks()["cpus"])
    # at least the spinner's one CPU out of all of them
    assert summary["utilisation"] >= 0.9 / summary["cpu"]["cpus"] - 0.1
    assert summary["memory"]["what"] == "MemTotal - MemAvailable" and summary["memory"]["max"] > 0


def test_a_missing_pid_and_a_bad_interval_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="--pid 999999999: no such process"):
        Monitor(1.0, 0.5, pid=999999999)
    with pytest.raises(AgentError, match="--interval"):
        Monitor(1.0, 2.0)


def test_the_summary_round_trips_into_edgeprof_report(tmp_path: Path, spinner: int) -> None:
    from pipeline.cli import app as host_app
    from tests.pipeline.run_fixture import make_run

    path = tmp_path / "monitor.json"
    result = CliRunner().invoke(
        agent_app, ["monitor", "--duration", "1s", "--interval", "250ms", "--pid", str(spinner), "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {path}: utilisation" in result.output
    summary = json.loads(path.read_text())
    assert 0 < summary["utilisation"] <= 1 and summary["samples"] == 4
    out = make_run(tmp_path / "out")
    report = CliRunner().invoke(host_app, ["report", str(out), "--monitor-summary", str(path)])
    assert report.exit_code == 0, report.output
    doc = json.loads((out / "results.json").read_text())
    costs = [r["cost"] for r in doc["variants"] if r["cost"] is not None]
    assert costs and all(c["utilisation"] == pytest.approx(summary["utilisation"]) for c in costs)
    assert all(c["utilisation_origin"].startswith(f"monitor summary {path} over") for c in costs)


def test_write_summary_is_json_and_atomic(tmp_path: Path) -> None:
    text = write_summary({"utilisation": 0.5, "window_s": 1.0}, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(text)
    assert not list(tmp_path.glob("*.tmp"))
