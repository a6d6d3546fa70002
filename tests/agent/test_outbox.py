"""The agent's durable store: results survive a restart until acked; jobs are claimed once and in order."""

from __future__ import annotations

from agent.outbox import AgentStore


def test_results_survive_reopen_until_acked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "agent.db"
    store = AgentStore(db)
    assert store.add_job("j1", b"{}")
    store.next_job()
    store.finish_job("j1", "r1", b'{"x":1}')
    store.close()

    reopened = AgentStore(db)
    assert [rid for rid, _ in reopened.pending_results()] == ["r1"]
    assert reopened.ack(["r1"]) == 1
    assert reopened.pending_results() == []
    reopened.close()


def test_replayed_job_id_is_not_queued_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = AgentStore(tmp_path / "a.db")
    assert store.add_job("j1", b"a")
    assert not store.add_job("j1", b"b")
    assert store.job_seen("j1") and not store.job_seen("j2")


def test_jobs_are_claimed_in_arrival_order_and_a_crash_leaves_them_claimable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "a.db"
    store = AgentStore(db)
    store.add_job("first", b"1")
    store.add_job("second", b"2")
    assert store.next_job() == ("first", b"1", 1)
    store.close()
    # the agent died while running "first": after a restart it is claimed again, attempt 2
    again = AgentStore(db)
    assert again.next_job() == ("first", b"1", 2)
    again.finish_job("first", "r", b"{}")
    assert again.next_job() == ("second", b"2", 1)


def test_recently_sent_results_are_not_resent_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = AgentStore(tmp_path / "a.db")
    store.add_job("j", b"")
    store.finish_job("j", "r", b"{}")
    store.mark_sent("r")
    assert store.pending_results(base_interval_s=60) == []
    assert [r for r, _ in store.pending_results(base_interval_s=0)] == ["r"]


def test_resends_back_off_exponentially_up_to_a_cap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    store = AgentStore(tmp_path / "a.db")
    store.add_job("j", b"")
    store.finish_job("j", "r", b"{}")
    for _ in range(4):
        store.mark_sent("r")  # four sends: the next is due 10 s * 2**3 = 80 s after the last
    last = time.time()
    store._db.execute("UPDATE outbox SET last_sent_at=?", (last - 79,))
    assert store.pending_results(base_interval_s=10) == []
    store._db.execute("UPDATE outbox SET last_sent_at=?", (last - 81,))
    assert [r for r, _ in store.pending_results(base_interval_s=10)] == ["r"]
    for _ in range(20):
        store.mark_sent("r")
    store._db.execute("UPDATE outbox SET last_sent_at=?", (time.time() - 601,))
    assert [r for r, _ in store.pending_results(base_interval_s=10, cap_s=600)] == ["r"], "the cap bounds the wait"


def test_a_full_disk_raises_the_real_error_not_a_failed_rollback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The landed store answered SQLITE_FULL with ROLLBACK, which raised 'no transaction is active'."""
    import sqlite3

    import pytest

    store = AgentStore(tmp_path / "a.db")
    store.add_job("j1", b"")
    store.finish_job("j1", "r0", b"x" * 4000)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        store.finish_job("j1", "r1", b"y" * 8000)
    assert not store._db.in_transaction
    store._db.execute(f"PRAGMA max_page_count={pages + 100}")
    store.finish_job("j1", "r1", b"y" * 8000)  # once there is room again, it works
    assert store.outbox_size() == 2


def test_a_store_from_before_result_expiry_gains_the_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3
    import time

    now = time.time()

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE outbox (result_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, payload BLOB NOT NULL, "
            "created_at REAL NOT NULL, sends INTEGER NOT NULL DEFAULT 0, last_sent_at REAL)"
        )
        conn.execute("INSERT INTO outbox(result_id, job_id, payload, created_at) VALUES ('r', 'j', x'00', ?)", (now,))
    store = AgentStore(path)
    assert [r for r, _ in store.pending_results()] == ["r"]  # an old result is still sent, never silently lost
    store.close()


def test_results_of_an_older_agent_expire_from_their_creation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3
    import time

    from agent.outbox import RESULT_RETENTION_S

    path = tmp_path / "old.db"
    old = time.time() - RESULT_RETENTION_S - 10
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE outbox (result_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, payload BLOB NOT NULL, "
            "created_at REAL NOT NULL, sends INTEGER NOT NULL DEFAULT 0, last_sent_at REAL)"
        )
        conn.execute("INSERT INTO outbox(result_id, job_id, payload, created_at) VALUES ('r', 'j', x'00', ?)", (old,))
    store = AgentStore(path)
    assert store.pending_results() == []
    assert store.drop_expired() == ["r"]
    store.close()


def test_batches_respect_the_count_and_size_limits() -> None:
    from agent.outbox import batches

    due = [(f"r{i}", b"x" * 10) for i in range(7)]
    assert [len(g) for g in batches(due, max_results=3)] == [3, 3, 1]
    assert [len(g) for g in batches(due, max_bytes=25)] == [2, 2, 2, 1]
    assert [len(g) for g in batches([("big", b"x" * 100), ("r", b"x")], max_bytes=50)] == [1, 1]
    assert batches([]) == []


def test_finished_jobs_are_pruned_past_expiry_plus_the_margin_unfinished_and_old_rows_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = AgentStore(tmp_path / "a.db")
    store.add_job("done", b"", expires_at=1000.0)
    store.add_job("queued", b"", expires_at=1000.0)
    store.add_job("older-agent", b"")  # no expiry known: kept
    store._db.execute("UPDATE jobs SET state='done' WHERE job_id IN ('done', 'older-agent')")
    assert store.prune_jobs(300.0, now=1299.0) == 0  # within the margin
    assert store.prune_jobs(300.0, now=1301.0) == 1
    assert not store.job_seen("done") and store.job_seen("queued") and store.job_seen("older-agent")
    store.close()


def test_a_jobs_table_from_before_pruning_gains_the_expiry_and_keeps_its_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, payload BLOB NOT NULL, state TEXT NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0, received_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO jobs VALUES ('old', x'00', 'done', 1, 1.0)")
    store = AgentStore(path)
    assert store.prune_jobs(0.0, now=1e12) == 0  # expiry unknown: still refused as a replay
    assert store.job_seen("old") and not store.add_job("old", b"")
    assert store.add_job("new", b"", expires_at=5.0) and store.prune_jobs(0.0, now=10.0) == 0  # not finished
    store.close()
