"""One run with every decision figure, for the report tests: two builds on a Jetson Orin Nano with
cost and roofline from the profile, two more on a Raspberry Pi 5, and the planner's answer."""

from __future__ import annotations

from pathlib import Path

from pipeline.results_db import ResultsDB
from pipeline.run_summary import summary_for_run
from pipeline.summary import RunSummary

from ..run_fixture import RUN, make_run


def decision_run(folder: Path, **overrides: object) -> RunSummary:
    out = make_run(folder / "out")
    db = ResultsDB(out / "results.db")
    try:
        return summary_for_run(db, RUN, overrides={"rate": "600/min", "p99_ms": 50.0, **overrides})
    finally:
        db.close()
