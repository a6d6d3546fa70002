"""Content-addressed artifact store: every file the devices need, named by its sha256.

Putting the same bytes twice stores them once, so re-running an unchanged spec ships nothing new.
Files enter by atomic rename after hashing; a file under ``objects/`` is always complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    path: Path
    size_bytes: int
    media_type: str


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def put(self, source: Path, media_type: str) -> StoredArtifact:
        """Copy ``source`` into the store (once) and return its reference."""
        digest = sha256_file(source)
        final = self.path_for(digest)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
            os.close(fd)
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return StoredArtifact(digest, final, final.stat().st_size, media_type)

    def get(self, sha256: str) -> Path | None:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            return None
        path = self.path_for(sha256)
        return path if path.is_file() else None
