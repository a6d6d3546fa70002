"""Writing output files so that a reader never sees half of one, with the permissions of a normal file.

The reports are meant to be sent to a colleague or served from a shared folder, so they get mode 0644
masked by the process umask, as ``open(path, "w")`` would give; ``tempfile.mkstemp`` would leave 0600.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_MODE = 0o644  # before the umask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and a rename.

    The parent folder is created if needed. The file is flushed to disk before the rename, so that
    after a crash ``path`` holds either the old content or the new, never a truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusive temporary file next to ``path``; the kernel applies the umask to its mode."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}: clear stale .{path.name}.*.tmp files")
