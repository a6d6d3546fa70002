"""The agent's log file: one JSON object a line, with the job it concerns, rotated at its size bound."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from agent.logs import job_context, setup_logging


@pytest.fixture(autouse=True)
def _restore_root_logger():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def test_lines_are_json_with_device_event_and_job(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "agent.jsonl"
    setup_logging("INFO", path, "jet-01")
    log = logging.getLogger("edgeprof.agent")
    log.info("queued job %s", "j-1", extra={"event": "job_queued", "job_id": "j-1"})
    with job_context("j-2"):
        log.warning("download of %s broke off", "http://x")
        other = threading.Thread(target=lambda: log.info("from the network thread"))
        other.start()
        other.join()
    log.debug("not at INFO")
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["event"], x.get("job_id")) for x in lines] == [
        ("job_queued", "j-1"),
        ("download of %s broke off", "j-2"),  # no event given: the format string, stable across jobs
        ("from the network thread", None),  # another thread is not running j-2
    ]
    assert lines[1]["message"] == "download of http://x broke off" and lines[1]["level"] == "WARNING"
    assert {x["device_id"] for x in lines} == {"jet-01"} and all(isinstance(x["ts"], float) for x in lines)


def test_the_file_rotates_at_its_bound_and_keeps_the_backups_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "agent.jsonl"
    setup_logging("INFO", path, "jet-01", max_bytes=2048, backups=2)
    log = logging.getLogger("edgeprof.agent")
    for n in range(400):  # about 60 KB of lines
        log.info("result %d sent", n, extra={"job_id": f"j-{n}"})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["agent.jsonl", "agent.jsonl.1", "agent.jsonl.2"]
    sizes = [(tmp_path / f).stat().st_size for f in files]
    assert all(size <= 2048 for size in sizes), sizes
    newest = [json.loads(line) for line in path.read_text().splitlines()]
    assert newest[-1]["message"] == "result 399 sent"  # the newest lines are in the live file


def test_a_bound_too_small_to_hold_a_line_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1024 bytes"):
        setup_logging("INFO", tmp_path / "a.jsonl", "d", max_bytes=10)
