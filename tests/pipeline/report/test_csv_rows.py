"""results.csv (pipeline/report/csv_rows.py): one row per record, the same figures as results.json."""

from __future__ import annotations

import csv
import io
import math

from pipeline.report.csv_rows import COLUMNS, csv_text

from ..sample_results import record, summary
from .decision_run import decision_run


def test_one_row_per_record_with_the_decision_figures(tmp_path):
    run = decision_run(tmp_path)
    rows = list(csv.DictReader(io.StringIO(csv_text(run))))
    assert [r["id"] for r in rows] == [r.id for r in run.records]
    first = run.records[0]
    row = rows[0]
    assert float(row["cost_usd_per_million_full_load"]) == first.cost.usd_per_million_full_load
    assert row["roofline_bound"] == first.roofline.bound and float(row["roofline_fraction"]) == first.roofline.fraction
    assert row["pareto_rank"] == str(run.ranking.rank(first.id))
    assert sum(r["recommended"] == "True" for r in rows) == 1
    assert list(rows[0]) == [name for name, _ in COLUMNS]


def test_missing_figures_are_empty_cells():
    (row,) = csv.DictReader(io.StringIO(csv_text(summary([record("a", power=False, p99=None)]))))
    assert row["power_avg_w"] == "" and row["latency_p99_ms"] == "" and row["cost_pricing"] == ""
    assert not math.isnan(float(row["throughput_ips"]))
