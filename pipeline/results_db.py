"""The host's results database (SQLite): runs, device presence and results, stored idempotently.

A result is keyed by the agent's ``result_id``: the agent resends until acknowledged, so the same
result may arrive several times and is stored once. Each write is one transaction; an interrupted
run leaves the database consistent (WAL journal), never half a result. Results arriving in a burst
are stored by :meth:`ResultsDB.ingest`, many to one transaction: one full-sync commit per result
capped the host near 330 results/s (design.md).

Each job carries its state (:data:`agent.protocol.JOB_STATES`): ``queued`` when issued, then what
its device reports, ``done``/``failed`` when its result is stored, ``timed_out`` when the host gave
up on it; a final state is never moved back.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.durable_sqlite import open_durable
from agent.errors import ProtocolError
from agent.protocol import FINAL_JOB_STATES, AgentStatus, BenchmarkJob, BenchmarkResult, decode, encode

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
CREATE INDEX IF NOT EXISTS jobs_by_run ON jobs(run_id);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


_JOB_COLUMNS = {
    "state": "TEXT NOT NULL DEFAULT 'queued'",
    "detail": "TEXT NOT NULL DEFAULT ''",
    "state_at": "REAL",
    "expires_at": "REAL",
    "deadline_s": "REAL",
    "retry_of": "TEXT NOT NULL DEFAULT ''",
}


@dataclass(frozen=True)
class JobRow:
    """A job as the host recorded it, with its latest state."""

    job_id: str
    run_id: str
    device_id: str
    variant_id: str
    state: str
    detail: str
    state_at: float | None
    expires_at: float | None
    deadline_s: float | None
    retry_of: str
    has_result: bool


@dataclass
class Ingested:
    """What :meth:`ResultsDB.ingest` did with a batch: new results, ones already stored, refused ones."""

    stored: list[BenchmarkResult] = field(default_factory=list)
    duplicates: list[BenchmarkResult] = field(default_factory=list)
    refused: list[tuple[BenchmarkResult, str]] = field(default_factory=list)


class ResultsDB:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_durable(self.path, _SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column, ddl in _JOB_COLUMNS.items():  # databases written before job states existed
            if column not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {ddl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_run(self, run_id: str, model_sha256: str, spec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO runs(run_id, created_at, model_sha256, spec) VALUES (?,?,?,?)",
                (run_id, time.time(), model_sha256, json.dumps(spec, default=str)),
            )

    def add_jobs(self, jobs: list[BenchmarkJob], retry_of: str = "") -> None:
        """Record issued jobs as ``queued`` (``retry_of``: the job id they replace, for a retry)."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO jobs(job_id, run_id, device_id, variant_id, runtime, precision, issued_at, "
                "state, state_at, expires_at, deadline_s, retry_of) VALUES (?,?,?,?,?,?,?,'queued',?,?,?,?)",
                [
                    (j.job_id, j.run_id, j.device_id, j.variant_id, j.runtime, j.precision, j.issued_at, now,
                     j.expires_at, j.deadline_s, retry_of)
                    for j in jobs
                ],
            )  # fmt: skip

    def set_job_state(self, job_id: str, device_id: str, state: str, detail: str = "") -> bool:
        """Move a job of ``device_id`` to ``state`` unless it is already final; True if it moved."""
        final = ",".join(f"'{s}'" for s in FINAL_JOB_STATES)
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state=?, detail=?, state_at=? WHERE job_id=? AND device_id=? "
                f"AND state NOT IN ({final})",
                (state, detail, time.time(), job_id, device_id),
            )
            return cur.rowcount == 1

    def jobs(self, run_id: str) -> list[JobRow]:
        """The run's jobs in issue order, with their states and whether a result is stored."""
        with self._lock:
            rows = self._db.execute(
                "SELECT j.job_id, j.run_id, j.device_id, j.variant_id, j.state, j.detail, j.state_at, j.expires_at, "
                "j.deadline_s, j.retry_of, r.job_id IS NOT NULL FROM jobs j LEFT JOIN results r ON r.job_id = j.job_id "
                "WHERE j.run_id=? ORDER BY j.issued_at, j.rowid",
                (run_id,),
            ).fetchall()
        return [JobRow(*r[:10], bool(r[10])) for r in rows]

    def check_issued(self, result: BenchmarkResult) -> str | None:
        """None if ``result`` answers a job this host issued, to that device, for that build; else why not."""
        with self._lock:
            return self._check_issued(result)

    def _check_issued(self, result: BenchmarkResult) -> str | None:
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
        return bool(self.ingest([result]).stored)

    def ingest(self, results: list[BenchmarkResult], payloads: dict[str, str] | None = None) -> Ingested:
        """Store a batch of results in one transaction: each once, only for jobs this host issued.

        ``payloads`` maps result id to the JSON as received (signature included), stored as it is;
        without it each result is encoded again.

        A result for a job that already has another result is a duplicate (a resend after an ack
        was lost). On a storage error nothing of the batch is stored and the error propagates: the
        caller acknowledges nothing, so the devices resend."""
        out = Ingested()
        now = time.time()
        final = ",".join(f"'{s}'" for s in FINAL_JOB_STATES if s not in ("timed_out", "cancelled"))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for result in results:
                    why_not = self._check_issued(result)
                    if why_not is not None:
                        out.refused.append((result, why_not))
                        continue
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO results(result_id, run_id, job_id, variant_id, device_id, status, "
                        "payload, received_at) VALUES (?,?,?,?,?,?,?,?)",
                        (result.result_id, result.run_id, result.job_id, result.variant_id, result.device_id,
                         result.status, (payloads or {}).get(result.result_id) or encode(result).decode(), now),
                    )  # fmt: skip
                    if cur.rowcount != 1:
                        out.duplicates.append(result)
                        continue
                    out.stored.append(result)
                    self._db.execute(
                        f"UPDATE jobs SET state=?, detail=?, state_at=? WHERE job_id=? AND state NOT IN ({final})",
                        ("done" if result.status == "ok" else "failed", result.error[:500], now, result.job_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return out

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
