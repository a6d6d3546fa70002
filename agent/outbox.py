"""The agent's durable state: received jobs and unacknowledged results, in one SQLite file.

A result stays in the outbox until the host acknowledges it (a broker PUBACK only means the broker
has it; see design.md). Jobs are stored on arrival so that a reboot mid-queue loses none, and their
ids are remembered so a replayed job is refused. SQLite in WAL mode with synchronous=FULL: a power
cut loses at most the transaction in flight, never a committed result.

An unacknowledged result is resent with a growing interval until its ``give_up_at`` (the job's
expiry plus :data:`RESULT_RETENTION_S` by default): a host that was killed and never comes back is
not waited for for ever. A write that fails (disk full) raises :class:`sqlite3.Error` with the
transaction rolled back, never a second error from the rollback itself.

The ids of received jobs are the replay store. A finished job's row is pruned once its expiry is
more than the clock-skew tolerance past (:meth:`AgentStore.prune_jobs`): a replay of it after that
is refused as expired by its own ``expires_at`` (signed by the host), so the store stays as small
as the jobs still live, and a device clock stepped back by up to the tolerance cannot revive one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import List, Optional, Set, Tuple

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
#: How long after its job's expiry an unacknowledged result is still resent (3 days): long enough
#: for a host that was stopped over a weekend, short enough that a killed one is not served for ever.
RESULT_RETENTION_S = 3 * 24 * 3600.0


#: A backlog is sent in batches of at most this many results and bytes (under the 1 MB message limit).
BATCH_MAX_RESULTS = 100
BATCH_MAX_BYTES = 500_000


def batches(
    due: List[Tuple[str, bytes]], max_results: int = BATCH_MAX_RESULTS, max_bytes: int = BATCH_MAX_BYTES
) -> List[List[Tuple[str, bytes]]]:
    """``due`` (result id, payload) cut into groups for :class:`~agent.protocol.ResultBatch` messages,
    in order; a result too large to share a message goes alone."""
    groups: List[List[Tuple[str, bytes]]] = []
    size = 0
    for item in due:
        if not groups or len(groups[-1]) >= max_results or size + len(item[1]) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += len(item[1])
    return groups


class AgentStore:
    """Thread-safe wrapper over the agent's SQLite file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._abandoned: Set[str] = set()
        self._db = open_durable(path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "give_up_at" not in columns:  # a store written by an agent before result expiry existed
            self._db.execute("ALTER TABLE outbox ADD COLUMN give_up_at REAL")
        if "expires_at" not in {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}:
            self._db.execute("ALTER TABLE jobs ADD COLUMN expires_at REAL")  # NULL: kept (expiry unknown)

    def _rollback(self) -> None:
        """Roll back if a transaction is still open: SQLite has already rolled back after a full disk,
        and ROLLBACK then raises 'no transaction is active', hiding the real error."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # jobs ------------------------------------------------------------------------------------------
    def job_seen(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job_id,)).fetchone() is not None

    def add_job(self, job_id: str, payload: bytes, expires_at: Optional[float] = None) -> bool:
        """Store a verified job as queued. False if its id was already known (replay)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO jobs(job_id, payload, state, received_at, expires_at) VALUES (?,?,?,?,?)",
                (job_id, payload, "queued", time.time(), expires_at),
            )
            return cur.rowcount == 1

    def prune_jobs(self, margin_s: float, now: Optional[float] = None) -> int:
        """Forget finished jobs whose expiry is more than ``margin_s`` past; the number forgotten.

        Jobs not finished, and rows without an expiry (from an older agent), are kept."""
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM jobs WHERE state='done' AND expires_at IS NOT NULL AND expires_at + ? < ?",
                (margin_s, now),
            )
            return cur.rowcount

    def known_jobs(self) -> int:
        """Rows in the replay store (every job received and not pruned)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def next_job(self) -> Optional[Tuple[str, bytes, int]]:
        """Claim the oldest queued job (or one left running by a crash): (id, payload, attempts)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, payload, attempts FROM jobs WHERE state IN ('queued','running') "
                "ORDER BY received_at LIMIT ?",
                (len(self._abandoned) + 1,),
            ).fetchall()
            row = next((r for r in rows if r[0] not in self._abandoned), None)
            if row is None:
                return None
            self._db.execute("UPDATE jobs SET state='running', attempts=attempts+1 WHERE job_id=?", (row[0],))
            return row[0], row[1], row[2] + 1

    def finish_job(
        self, job_id: str, result_id: str, result_payload: bytes, give_up_at: Optional[float] = None
    ) -> None:
        """Mark the job done and queue its result, in one transaction (resent until ``give_up_at``,
        default: :data:`RESULT_RETENTION_S` from now)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO outbox(result_id, job_id, payload, created_at, give_up_at) "
                    "VALUES (?,?,?,?,?)",
                    (result_id, job_id, result_payload, now, give_up_at or now + RESULT_RETENTION_S),
                )
                self._db.execute("UPDATE jobs SET state='done' WHERE job_id=?", (job_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def abandon(self, job_id: str) -> None:
        """Skip ``job_id`` until the agent restarts: its result could not be stored (full disk), and
        it was reported failed instead of being claimed again every second."""
        with self._lock:
            self._abandoned.add(job_id)

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
        days is not flooded). ``base_interval_s=0``: all of them. Results past ``give_up_at`` are not
        sent; :meth:`drop_expired` removes them."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT result_id, payload, sends, last_sent_at FROM outbox "
                "WHERE COALESCE(give_up_at, created_at + ?) > ? ORDER BY created_at",
                (RESULT_RETENTION_S, now),
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

    def drop_expired(self, now: Optional[float] = None) -> List[str]:
        """Delete and return the ids of unacknowledged results past their ``give_up_at``."""
        now = time.time() if now is None else now
        with self._lock:
            # rows of an agent from before result expiry have no give_up_at: they expire from their creation
            expiry = "COALESCE(give_up_at, created_at + ?) <= ?"
            rows = self._db.execute(
                f"SELECT result_id FROM outbox WHERE {expiry}", (RESULT_RETENTION_S, now)
            ).fetchall()
            self._db.execute(f"DELETE FROM outbox WHERE {expiry}", (RESULT_RETENTION_S, now))
        return [r[0] for r in rows]

    def outbox_size(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
