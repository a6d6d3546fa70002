"""The host's results database (SQLite): runs, device presence and results, stored idempotently.

A result is keyed by the agent's ``result_id``: the agent resends until acknowledged, so the same
result may arrive several times and is stored once. Each write is one transaction; an interrupted
run leaves the database consistent (WAL journal), never half a result.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from agent.durable_sqlite import open_durable
from agent.errors import ProtocolError
from agent.protocol import AgentStatus, BenchmarkJob, BenchmarkResult, decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    model_sha256 TEXT NOT NULL,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_run ON results(run_id);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    runtime TEXT NOT NULL,
    precision TEXT NOT NULL,
    issued_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_result_per_job ON results(job_id);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


class ResultsDB:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_durable(self.path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_run(self, run_id: str, model_sha256: str, spec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO runs(run_id, created_at, model_sha256, spec) VALUES (?,?,?,?)",
                (run_id, time.time(), model_sha256, json.dumps(spec, default=str)),
            )

    def add_jobs(self, jobs: list[BenchmarkJob]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO jobs(job_id, run_id, device_id, variant_id, runtime, precision, issued_at) "
                "VALUES (?,?,?,?,?,?,?)",
                [(j.job_id, j.run_id, j.device_id, j.variant_id, j.runtime, j.precision, j.issued_at) for j in jobs],
            )

    def check_issued(self, result: BenchmarkResult) -> str | None:
        """None if ``result`` answers a job this host issued, to that device, for that build; else why not."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, device_id, variant_id, runtime, precision FROM jobs WHERE job_id=?",
                (result.job_id,),
            ).fetchone()
        if row is None:
            return f"job {result.job_id} was not issued by this host"
        got = (result.run_id, result.device_id, result.variant_id, result.runtime, result.precision)
        if tuple(row) != got:
            return f"result for job {result.job_id} does not match the job issued (expected {tuple(row)}, got {got})"
        return None

    def add_result(self, result: BenchmarkResult) -> bool:
        """Store a result once (one per job). True if it was new."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO results(result_id, run_id, job_id, variant_id, device_id, status, "
                "payload, received_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    result.result_id,
                    result.run_id,
                    result.job_id,
                    result.variant_id,
                    result.device_id,
                    result.status,
                    encode(result).decode(),
                    time.time(),
                ),
            )
            return cur.rowcount == 1

    def results_for_run(self, run_id: str) -> list[str]:
        """Raw JSON payloads of a run's results, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM results WHERE run_id=? ORDER BY received_at", (run_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def jobs_without_result(self, run_id: str) -> list[tuple[str, str, str]]:
        """``(job_id, variant_id, device_id)`` of the run's jobs that no result has answered yet."""
        with self._lock:
            rows = self._db.execute(
                "SELECT j.job_id, j.variant_id, j.device_id FROM jobs j LEFT JOIN results r ON r.job_id = j.job_id "
                "WHERE j.run_id=? AND r.job_id IS NULL ORDER BY j.issued_at, j.rowid",
                (run_id,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def set_device(self, device_id: str, status_json: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO devices(device_id, status, updated_at) VALUES (?,?,?)",
                (device_id, status_json, time.time()),
            )

    def latest_run(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def run_meta(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT spec FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return json.loads(row[0])

    def devices(self) -> dict[str, AgentStatus]:
        """Last known status of every device this database has heard from."""
        with self._lock:
            rows = self._db.execute("SELECT device_id, status FROM devices").fetchall()
        found = {}
        for device_id, status in rows:
            try:
                found[device_id] = decode(AgentStatus, status)
            except ProtocolError:
                continue  # written by another schema version; presence is not worth failing a report
        return found
