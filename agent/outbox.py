"""The agent's durable state: received jobs and unacknowledged results, in one SQLite file.

A result stays in the outbox until the host acknowledges it (a broker PUBACK only means the broker
has it; see design.md). Jobs are stored on arrival so that a reboot mid-queue loses none, and their
ids are remembered so a replayed job is refused. SQLite in WAL mode with synchronous=FULL: a power
cut loses at most the transaction in flight, never a committed result.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

from agent.durable_sqlite import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,            -- queued | running | done
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    result_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    sends INTEGER NOT NULL DEFAULT 0,
    last_sent_at REAL
);
"""


class AgentStore:
    """Thread-safe wrapper over the agent's SQLite file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_durable(path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # jobs ------------------------------------------------------------------------------------------
    def job_seen(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job_id,)).fetchone() is not None

    def add_job(self, job_id: str, payload: bytes) -> bool:
        """Store a verified job as queued. False if its id was already known (replay)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO jobs(job_id, payload, state, received_at) VALUES (?,?,?,?)",
                (job_id, payload, "queued", time.time()),
            )
            return cur.rowcount == 1

    def next_job(self) -> Optional[Tuple[str, bytes, int]]:
        """Claim the oldest queued job (or one left running by a crash): (id, payload, attempts)."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, payload, attempts FROM jobs WHERE state IN ('queued','running') "
                "ORDER BY received_at LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE jobs SET state='running', attempts=attempts+1 WHERE job_id=?", (row[0],))
            return row[0], row[1], row[2] + 1

    def finish_job(self, job_id: str, result_id: str, result_payload: bytes) -> None:
        """Mark the job done and queue its result, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO outbox(result_id, job_id, payload, created_at) VALUES (?,?,?,?)",
                    (result_id, job_id, result_payload, time.time()),
                )
                self._db.execute("UPDATE jobs SET state='done' WHERE job_id=?", (job_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def unfinished_jobs(self) -> List[Tuple[str, bytes]]:
        """``(job_id, payload)`` of every job not done yet (queued, or left running by a crash)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, payload FROM jobs WHERE state!='done' ORDER BY received_at"
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def drop_job(self, job_id: str) -> None:
        """Mark a job done without a result (it could not even be decoded)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET state='done' WHERE job_id=?", (job_id,))

    def queued_jobs(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state!='done'").fetchone()[0]

    # outbox ----------------------------------------------------------------------------------------
    def pending_results(self, base_interval_s: float = 0.0, cap_s: float = 600.0) -> List[Tuple[str, bytes]]:
        """Unacknowledged results due for (re)sending: never sent, or last sent longer ago than
        ``base_interval_s`` doubled per earlier send, at most ``cap_s`` (a host that is gone for
        days is not flooded, and no result is ever given up). ``base_interval_s=0``: all of them."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT result_id, payload, sends, last_sent_at FROM outbox ORDER BY created_at"
            ).fetchall()
        due = []
        for result_id, payload, sends, last_sent_at in rows:
            wait = min(base_interval_s * (2 ** max(sends - 1, 0)), cap_s) if base_interval_s > 0 else 0.0
            if last_sent_at is None or last_sent_at + wait <= now:
                due.append((result_id, payload))
        return due

    def mark_sent(self, result_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET sends=sends+1, last_sent_at=? WHERE result_id=?", (time.time(), result_id)
            )

    def ack(self, result_ids: List[str]) -> int:
        with self._lock:
            cur = self._db.executemany("DELETE FROM outbox WHERE result_id=?", [(r,) for r in result_ids])
            return cur.rowcount

    def outbox_size(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
