"""Live progress from the benchmark child to the agent (agent/progress_feed.py, agent/protocol/progress.py)."""

from __future__ import annotations

from pathlib import Path

from agent.progress_feed import ProgressRelay, ProgressWriter
from agent.protocol.progress import Progress, parse_progress


def test_the_detail_line_round_trips_and_other_details_do_not_parse() -> None:
    p = Progress("measuring", 2, 4, 8, 3, 6.4)
    assert p.detail() == "measuring · window 2 of 4 at batch 8 with 3 in flight · eta 6 s"
    assert parse_progress(p.detail()) == Progress("measuring", 2, 4, 8, 3, 6.0)
    assert parse_progress("warm-up · window 1 of 2 at batch 1") == Progress("warm-up", 1, 2, 1)
    assert parse_progress("queued on the device") is None
    assert parse_progress("sleeping · window 1 of 2 at batch 1") is None  # not a phase


def test_the_relay_sends_the_newest_line_at_most_twice_a_second(tmp_path: Path) -> None:
    now = [0.0]
    sent: list[str] = []
    path = tmp_path / "progress.log"
    relay = ProgressRelay(path, sent.append, clock=lambda: now[0])
    assert not relay.poll()  # no file yet
    write = ProgressWriter(path)
    write(Progress("warm-up", 1, 2, 1, eta_s=5))
    assert relay.poll() and sent == ["warm-up · window 1 of 2 at batch 1 · eta 5 s"]
    write(Progress("measuring", 1, 2, 1, eta_s=4))
    write(Progress("accuracy", 1, 2, 1, eta_s=3))
    now[0] = 0.2
    assert not relay.poll()  # too soon: held back, not queued
    now[0] = 0.6
    assert relay.poll() and sent[-1].startswith("accuracy")  # the newest wins; "measuring" was skipped
    assert not relay.poll() and len(sent) == 2  # nothing new
    with open(path, "a", encoding="utf-8") as f:
        f.write("warm-up · window 2 of 2 at ba")  # a line being written is not read half
    now[0] = 2.0
    assert not relay.poll()
