"""Artifact kinds: a manifest plus one or more content-addressed member files.

A job names its build by the sha256 of a manifest (an :class:`ArtifactRef` whose media type is
:data:`MANIFEST_MEDIA_TYPE`). The manifest lists the member files by role, file name, sha256 and
size, and carries the kind's settings (a TensorRT build recipe's flags, say). The agent downloads
the manifest, verifies it against the job's hash, then downloads and verifies every member the same
way, so a truncated or altered member is refused exactly like a truncated single file.

Kinds (:data:`ARTIFACT_KINDS`):

- ``onnx``: one ONNX model (role ``model``);
- ``openvino-ir``: an OpenVINO IR, ``model`` (.xml) and ``weights`` (.bin);
- ``tensorrt-recipe``: the ONNX to build from (role ``model``) and the build settings in
  ``settings``; the engine is built on the device.

Members carry no URLs: they are fetched from the server that served the manifest, by hash.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List

from agent.errors import ProtocolError
from agent.protocol.topics import PROTOCOL_VERSION

MANIFEST_MEDIA_TYPE = "application/vnd.edgeprof.artifact+json"

#: kind -> the member roles it must have.
ARTIFACT_KINDS: Dict[str, tuple] = {
    "onnx": ("model",),
    "openvino-ir": ("model", "weights"),
    "tensorrt-recipe": ("model",),
}

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_sha256(value: str, what: str = "artifact sha256") -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ProtocolError("%s %r is not 64 lowercase hex digits" % (what, value))
    return value


@dataclasses.dataclass(frozen=True)
class ArtifactRef:
    """A content-addressed file the agent downloads over HTTP and verifies before use."""

    sha256: str
    url: str
    size_bytes: int
    media_type: str  # MANIFEST_MEDIA_TYPE, "application/x-npz", ...

    def __post_init__(self) -> None:
        check_sha256(self.sha256)
        if not self.url.startswith(("http://", "https://")):
            raise ProtocolError("artifact url %r is not http(s)" % self.url)
        if self.size_bytes < 0:
            raise ProtocolError("artifact size_bytes must be >= 0")

    def sibling(self, sha256: str, size_bytes: int, media_type: str) -> ArtifactRef:
        """The ref of another object on the same server (a manifest's member)."""
        base = self.url.rsplit("/", 1)[0]
        return ArtifactRef(check_sha256(sha256), "%s/%s" % (base, sha256), size_bytes, media_type)


@dataclasses.dataclass(frozen=True)
class ManifestMember:
    """One file of an artifact: its role in the kind, the file name a runtime sees, its hash."""

    role: str
    file_name: str
    sha256: str
    size_bytes: int
    media_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        check_sha256(self.sha256, "member sha256")
        if not _FILE_NAME.match(self.file_name) or self.file_name in (".", ".."):
            raise ProtocolError("member file name %r is not a plain file name" % self.file_name)
        if self.size_bytes < 0:
            raise ProtocolError("member size_bytes must be >= 0")


@dataclasses.dataclass(frozen=True)
class ArtifactManifest:
    """What a build is made of. Its own sha256 (over :func:`agent.protocol.encode`) names it."""

    kind: str
    members: List[ManifestMember]
    settings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    #: how the build was made (pass chain, tool versions): for the record, not for the device
    provenance: Dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        roles = ARTIFACT_KINDS.get(self.kind)
        if roles is None:
            raise ProtocolError(
                "artifact kind %r is unknown; known: %s" % (self.kind, ", ".join(sorted(ARTIFACT_KINDS)))
            )
        have = [m.role for m in self.members]
        if len(set(have)) != len(have):
            raise ProtocolError("artifact manifest lists a role twice: %s" % have)
        missing = [r for r in roles if r not in have]
        if missing:
            raise ProtocolError("a %s artifact needs member(s) %s; it has %s" % (self.kind, missing, have))
        names = [m.file_name for m in self.members]
        if len(set(names)) != len(names):
            raise ProtocolError("artifact manifest lists a file name twice: %s" % names)

    def member(self, role: str) -> ManifestMember:
        for m in self.members:
            if m.role == role:
                return m
        raise ProtocolError("the %s artifact has no %r member" % (self.kind, role))

    @property
    def size_bytes(self) -> int:
        return sum(m.size_bytes for m in self.members)
