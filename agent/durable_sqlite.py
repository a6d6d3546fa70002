"""Opening a SQLite file the way both ends keep their state: WAL journal, full sync.

A power cut then loses at most the transaction in flight, never a committed row (the agent's outbox,
the host's results database). Autocommit mode: callers open transactions explicitly where they need
several statements to land together.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating) ``path`` for use from several threads, and apply ``schema`` (idempotent DDL)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db
