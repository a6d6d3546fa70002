"""Content-addressed artifact store: every file the devices need, named by its sha256.

Putting the same bytes twice stores them once, so re-running an unchanged spec ships nothing new.
Files enter by atomic rename after hashing; a file under ``objects/`` is always complete.

A *build* (an artifact of some kind, :mod:`agent.protocol.artifacts`) is stored as its member files
plus a manifest object that lists them; the build is named by the manifest's hash, and the HTTP
server serves manifests and members alike by hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ProtocolError
from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactManifest, ManifestMember, decode, encode

_CHUNK = 1 << 20

#: media type of each member file, by file suffix
_MEDIA_TYPES = {".onnx": "model/onnx", ".xml": "application/xml", ".bin": "application/octet-stream"}


@dataclass(frozen=True)
class StoredArtifact:
    """One object in the store."""

    sha256: str
    path: Path
    size_bytes: int
    media_type: str


@dataclass(frozen=True)
class StoredBuild:
    """A build in the store: its manifest (as an object) and the manifest's content."""

    manifest_object: StoredArtifact
    manifest: ArtifactManifest
    files: Mapping[str, Path]  # role -> path of the member in the store

    @property
    def sha256(self) -> str:
        return self.manifest_object.sha256

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def size_bytes(self) -> int:
        """Bytes of the member files (what the model weighs on the device)."""
        return self.manifest.size_bytes

    def path(self, role: str = "model") -> Path:
        return Path(self.files[role])


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

    def put_bytes(self, data: bytes, media_type: str) -> StoredArtifact:
        with tempfile.TemporaryDirectory(prefix="edgeprof-put-") as tmp:
            path = Path(tmp) / "object"
            path.write_bytes(data)
            return self.put(path, media_type)

    def get(self, sha256: str) -> Path | None:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            return None
        path = self.path_for(sha256)
        return path if path.is_file() else None

    def put_build(
        self,
        kind: str,
        files: Mapping[str, Path],
        settings: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> StoredBuild:
        """Store the member ``files`` (role -> path) and a manifest listing them; the file name a
        runtime sees is ``names[role]``, else the path's name. ProtocolError when they do not make a
        ``kind``."""
        members = []
        stored: dict[str, Path] = {}
        for role, path in files.items():
            path = Path(path)
            name = (names or {}).get(role, path.name)
            obj = self.put(path, _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream"))
            members.append(ManifestMember(role, name, obj.sha256, obj.size_bytes, obj.media_type))
            stored[role] = obj.path
        manifest = ArtifactManifest(
            kind=kind, members=members, settings=dict(settings or {}), provenance=dict(provenance or {})
        )
        return StoredBuild(self.put_bytes(encode(manifest), MANIFEST_MEDIA_TYPE), manifest, stored)

    def get_build(self, sha256: str) -> StoredBuild | None:
        """The build whose manifest has ``sha256``, if it and all its members are in the store."""
        path = self.get(sha256)
        if path is None:
            return None
        try:
            manifest = decode(ArtifactManifest, path.read_bytes())
        except ProtocolError:
            return None
        files = {}
        for m in manifest.members:
            member = self.get(m.sha256)
            if member is None:
                return None
            files[m.role] = member
        obj = StoredArtifact(sha256, path, path.stat().st_size, MANIFEST_MEDIA_TYPE)
        return StoredBuild(obj, manifest, files)
