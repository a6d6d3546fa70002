"""From the benchmark child to the agent: the job's live progress, through a file in its work folder.

The child appends one line per phase (agent.protocol.progress); the agent, which already polls the
child every 50 ms, reads the newest line and publishes it as a ``running`` job state, at most
:data:`~agent.protocol.progress.MAX_PER_S` a second (the newest wins; a phase shorter than that is
skipped, never queued). A file, not a pipe: the child's stdout and stderr go to its log, and a slow
broker can never block a measured window.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from agent.protocol.progress import MAX_PER_S, Progress

PROGRESS_FILE = "progress.log"


class ProgressWriter:
    """Appends each :class:`Progress` to ``path`` as one line (the child's side)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __call__(self, progress: Progress) -> None:
        try:
            with open(str(self.path), "a", encoding="utf-8") as f:
                f.write(progress.detail() + "\n")
        except OSError:  # progress is best effort: never fail a measurement over it
            pass


class ProgressRelay:
    """Reads the newest complete line of ``path`` and hands it to ``publish`` when it changed, at
    most ``max_per_s`` times a second (the agent's side)."""

    def __init__(
        self,
        path: Path,
        publish: Callable[[str], None],
        max_per_s: float = MAX_PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.publish = publish
        self.min_gap_s = 1.0 / max_per_s
        self.clock = clock
        self.sent = ""
        self.last_at: Optional[float] = None
        self.offset = 0
        self.newest = ""

    def poll(self) -> bool:
        """Publish the newest line if it is new and the rate allows; True when something was published."""
        try:
            with open(str(self.path), "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            chunk = b""
        end = chunk.rfind(b"\n")
        if end >= 0:
            self.offset += end + 1
            self.newest = chunk[:end].decode("utf-8", errors="replace").rsplit("\n", 1)[-1]
        now = self.clock()
        if not self.newest or self.newest == self.sent:
            return False
        if self.last_at is not None and now - self.last_at < self.min_gap_s:
            return False
        self.sent, self.last_at = self.newest, now
        self.publish(self.newest)
        return True
