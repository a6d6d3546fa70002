"""Stop when the process that started us dies, even by SIGKILL, instead of running on unsupervised."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable


def on_parent_exit(callback: Callable[[], None], poll_s: float = 0.5) -> None:
    """Call ``callback`` (in a daemon thread) once this process has been re-parented."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        callback()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
