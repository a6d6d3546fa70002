"""The agent's logs: JSON lines in a size-bounded rotating file, and readable lines on stderr.

A device runs for months unattended: its log file must not fill the disk (``RotatingFileHandler``:
at most ``max_bytes`` per file and ``backups`` old files, so ``max_bytes * (backups + 1)`` in all),
and a fleet's logs are read by programs, so each file line is one JSON object: ``ts`` (Unix
seconds), ``level``, ``event`` (a stable name for what happened: the ``event`` a call passed in
``extra``, else the message's format string), ``message``, ``device_id``, and ``job_id`` where
known (passed in ``extra``, or the job the logging thread is running: :func:`job_context`).
stderr keeps the readable form for ``journalctl`` and a terminal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Optional

#: Defaults: 10 MiB per file, 5 old files: at most 60 MiB of logs.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5

_context = threading.local()


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Lines logged by this thread inside the block carry ``job_id``."""
    previous = getattr(_context, "job_id", "")
    _context.job_id = job_id
    try:
        yield
    finally:
        _context.job_id = previous


class JsonLines(logging.Formatter):
    def __init__(self, device_id: str) -> None:
        super().__init__()
        self.device_id = device_id

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "event": getattr(record, "event", None) or str(record.msg),
            "message": record.getMessage(),
            "device_id": self.device_id,
            "logger": record.name,
        }
        job_id = getattr(record, "job_id", None) or getattr(_context, "job_id", "")
        if job_id:
            line["job_id"] = job_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, sort_keys=True, default=str)


def setup_logging(
    level: str,
    log_file: Optional[Path],
    device_id: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
) -> List[logging.Handler]:
    """Send the root logger to stderr (readable) and, with ``log_file``, to rotating JSON lines.

    Returns the handlers installed (replacing any earlier ones, so a test can call it twice)."""
    if max_bytes < 1024:
        raise ValueError("log_max_bytes %d is too small: give at least 1024 bytes" % max_bytes)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s agent %(levelname)s %(message)s"))
    handlers: List[logging.Handler] = [stderr]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            str(log_file), maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        rotating.setFormatter(JsonLines(device_id))
        handlers.append(rotating)
    for handler in handlers:
        root.addHandler(handler)
    return handlers
