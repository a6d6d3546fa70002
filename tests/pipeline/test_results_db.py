"""The host's results database: job states that only move forward, batches stored once, old files upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.protocol import BenchmarkResult
from pipeline.results_db import ResultsDB
from tests.agent.test_protocol import make_job


def _result(result_id: str, job_id: str, status: str = "ok", **over: object) -> BenchmarkResult:
    fields: dict[str, object] = dict(
        result_id=result_id, job_id=job_id, run_id="run", variant_id="v", device_id="dev-1", status=status,
        runtime="onnxruntime", precision="fp32", started_at=1.0, finished_at=2.0, agent_version="0",
    )  # fmt: skip
    fields.update(over)
    return BenchmarkResult(**fields)  # type: ignore[arg-type]


def test_job_states_move_forward_only_and_a_late_result_still_lands(tmp_path: Path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    db.add_jobs([make_job(job_id="j1", run_id="run", variant_id="v", device_id="dev-1")])
    assert db.jobs("run")[0].state == "queued"
    assert db.set_job_state("j1", "dev-1", "running")
    assert not db.set_job_state("j1", "dev-2", "failed"), "another device moved this device's job"
    assert db.set_job_state("j1", "dev-1", "timed_out", "no result within its deadline")
    assert not db.set_job_state("j1", "dev-1", "running"), "a final state moved back"
    # the result arrives after the host gave up: stored, and the job is done after all
    outcome = db.ingest([_result("r1", "j1")])
    assert [r.result_id for r in outcome.stored] == ["r1"]
    [job] = db.jobs("run")
    assert job.state == "done" and job.has_result
    db.close()


def test_a_batch_stores_each_result_once_and_refuses_what_this_host_did_not_issue(tmp_path: Path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    db.add_jobs([make_job(job_id=f"j{i}", run_id="run", variant_id="v", device_id="dev-1") for i in range(3)])
    batch = [_result("r0", "j0"), _result("r1", "j1", "failed", error="boom"), _result("r0", "j0"),
             _result("rx", "nope"), _result("r2", "j2", variant_id="other")]  # fmt: skip
    outcome = db.ingest(batch, {"r0": '{"as": "received"}'})
    assert [r.result_id for r in outcome.stored] == ["r0", "r1"]
    assert [r.result_id for r in outcome.duplicates] == ["r0"]
    assert [r.result_id for r, _ in outcome.refused] == ["rx", "r2"]
    assert "not issued by this host" in outcome.refused[0][1] and "does not match" in outcome.refused[1][1]
    assert {j.job_id: (j.state, j.detail) for j in db.jobs("run")} == {
        "j0": ("done", ""), "j1": ("failed", "boom"), "j2": ("queued", ""),
    }  # fmt: skip
    assert '{"as": "received"}' in db.results_for_run("run"), "the payload as received was not what was stored"
    db.close()


def test_a_database_from_before_job_states_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, device_id TEXT NOT NULL, "
            "variant_id TEXT NOT NULL, runtime TEXT NOT NULL, precision TEXT NOT NULL, issued_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO jobs VALUES ('j', 'run', 'dev-1', 'v', 'onnxruntime', 'fp32', 1.0)")
    db = ResultsDB(path)
    [job] = db.jobs("run")
    assert (job.job_id, job.state, job.has_result) == ("j", "queued", False)
    db.close()
