"""Stop when the process that started us dies, even by SIGKILL, instead of running on unsupervised."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional


def on_parent_exit(callback: Callable[[], None], poll_s: float = 0.5, parent: Optional[int] = None) -> None:
    """Call ``callback`` (in a daemon thread) once this process has been re-parented.

    Pass ``parent`` when the parent's pid is known from before start-up: a parent that died while
    this process was still importing would otherwise be taken to be init."""
    if parent is None:
        parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # noqa: B023 - parent is fixed before the thread starts
            time.sleep(poll_s)
        callback()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
