"""Artifact download and cache: by content hash, resumable, verified before use.

A file enters the cache only after its sha256 matched, by an atomic rename, so a file present in
the cache is a verified one. A partial download is kept as ``.part`` and resumed with an HTTP Range
request; a hash mismatch deletes it and fails with a clear reason.

A build is a manifest plus member files (:mod:`agent.protocol.artifacts`): :meth:`ArtifactCache.fetch_build`
verifies the manifest, then each member, and lays the members out under their file names in one
folder (hard links into the cache), because runtimes find companion files by name (an OpenVINO
``.bin`` beside its ``.xml``, ONNX external data beside the model).

The cache is bounded (``max_bytes``, 2 GiB by default): after a job's artifacts are in place,
:meth:`ArtifactCache.evict` deletes the least recently used verified files (a file's mtime is set
each time a job uses it: atime is not kept on most mounts) until the cache fits, never a file the
running job uses (:meth:`ArtifactCache.job`), and with each file the laid-out build folders that
link to it (a hard link would keep its blocks on disk). A job whose own artifacts exceed the bound
still runs; the cache then holds only its files, and says so in the log.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Set, Tuple

from agent.errors import ArtifactError, ProtocolError
from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactManifest, ArtifactRef, decode
from agent.runtimes.base import LocalArtifact

_CHUNK = 1 << 20
#: The cache's size bound unless configured (``--cache-max-bytes``).
DEFAULT_MAX_BYTES = 2 * 1024**3

log = logging.getLogger("edgeprof.agent")


class ArtifactCache:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._in_use: Set[str] = set()
        (self.root / "partial").mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Files fetched inside the block are the running job's: :meth:`evict` keeps them."""
        self._in_use = set()
        try:
            yield
        finally:
            self._in_use = set()

    def cached(self) -> List[Tuple[float, int, str]]:
        """(last use, size in bytes, sha256) of every verified file, least recently used first."""
        entries = []
        for folder in self.root.iterdir():
            if len(folder.name) != 2 or not folder.is_dir():
                continue
            for path in folder.iterdir():
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime, st.st_size, path.name))
        return sorted(entries)

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self.cached())

    def evict(self) -> List[str]:
        """Delete least recently used files until the cache fits ``max_bytes``; the sha256s deleted."""
        entries = self.cached()
        total = sum(size for _, size, _ in entries)
        evicted = []
        for _, size, sha in entries:
            if total <= self.max_bytes:
                break
            if sha in self._in_use:
                continue
            self._remove(sha)
            total -= size
            evicted.append(sha)
        if evicted:
            log.info(
                "artifact cache over its bound of %d bytes: evicted %d least recently used file(s), %d bytes left",
                self.max_bytes,
                len(evicted),
                total,
                extra={"event": "cache_evicted"},
            )
        if total > self.max_bytes:
            log.warning(
                "the running job's artifacts alone take %d bytes, over the cache bound of %d bytes "
                "(--cache-max-bytes): they are kept until the next job",
                total,
                self.max_bytes,
                extra={"event": "cache_over_bound"},
            )
        return evicted

    def _remove(self, sha256: str) -> None:
        path = self.path_for(sha256)
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            return
        builds = self.root / "builds"
        if builds.is_dir():
            for folder in builds.iterdir():
                linked = folder.name == sha256 or any(
                    f.is_file() and f.stat().st_ino == inode for f in folder.iterdir()
                )
                if linked:
                    shutil.rmtree(str(folder), ignore_errors=True)
        path.unlink()

    def _use(self, sha256: str, path: Path) -> None:
        self._in_use.add(sha256)
        try:
            os.utime(str(path))  # "recently used", for eviction
        except OSError:
            pass

    def fetch(
        self,
        ref: ArtifactRef,
        timeout_s: float = 60.0,
        deadline: Optional[float] = None,
        should_stop: Optional[Callable[[], bool]] = None,
    ) -> Path:
        """Return the local path of a verified copy of ``ref``, downloading what is missing.

        ``timeout_s`` bounds each socket read; ``deadline`` (``time.monotonic()``) bounds the whole
        download, and ``should_stop`` is polled between chunks, so a trickling server cannot hold
        the agent past its job's deadline or its own shutdown."""
        final = self.path_for(ref.sha256)
        if final.exists():
            self._use(ref.sha256, final)
            return final
        part = self.root / "partial" / (ref.sha256 + ".part")
        try:
            self._download(ref, part, timeout_s, deadline, should_stop)
            digest = _sha256_file(part)
            if digest != ref.sha256:
                part.unlink()
                raise ArtifactError(
                    "artifact from %s has sha256 %s, expected %s: the file was corrupted or replaced; "
                    "the partial copy was deleted, send the job again" % (ref.url, digest[:12], ref.sha256[:12])
                )
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(str(part), str(final))
            self._use(ref.sha256, final)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ArtifactError(
                    "disk full while storing artifact %s under %s: free space or point --state-dir elsewhere"
                    % (ref.sha256[:12], self.root)
                ) from None
            raise ArtifactError("cannot store artifact %s: %s" % (ref.sha256[:12], exc)) from None
        return final

    def fetch_build(
        self,
        ref: ArtifactRef,
        timeout_s: float = 60.0,
        deadline: Optional[float] = None,
        should_stop: Optional[Callable[[], bool]] = None,
    ) -> LocalArtifact:
        """The verified build behind a manifest ``ref``: every member downloaded, verified and laid
        out under its file name."""
        if ref.media_type != MANIFEST_MEDIA_TYPE:
            raise ArtifactError(
                "the job's model is a %r file, not an edgeprof artifact manifest: the host is of another "
                "protocol version; upgrade the older of host and agent" % ref.media_type
            )
        manifest_path = self.fetch(ref, timeout_s, deadline, should_stop)
        try:
            manifest = decode(ArtifactManifest, manifest_path.read_bytes())
        except ProtocolError as exc:
            raise ArtifactError("artifact manifest %s is not valid: %s" % (ref.sha256[:12], exc)) from None
        folder = self.root / "builds" / ref.sha256
        files = {}
        for member in manifest.members:
            member_ref = ref.sibling(member.sha256, member.size_bytes, member.media_type)
            cached = self.fetch(member_ref, timeout_s, deadline, should_stop)
            files[member.role] = self._lay_out(cached, folder / member.file_name)
        return LocalArtifact(manifest.kind, files, manifest.settings)

    def _lay_out(self, cached: Path, target: Path) -> Path:
        """``target`` as a hard link to the verified ``cached`` file (a copy where links fail)."""
        if target.exists():
            if os.path.samefile(str(target), str(cached)):
                return target
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("." + target.name + ".tmp")
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(str(cached), str(tmp))
        except OSError:
            shutil.copyfile(str(cached), str(tmp))
        os.replace(str(tmp), str(target))
        return target

    def _download(
        self,
        ref: ArtifactRef,
        part: Path,
        timeout_s: float,
        deadline: Optional[float],
        should_stop: Optional[Callable[[], bool]],
    ) -> None:
        have = part.stat().st_size if part.exists() else 0
        if have > ref.size_bytes:
            part.unlink()
            have = 0
        if have == ref.size_bytes and have > 0:
            return
        request = urllib.request.Request(ref.url)
        if have:
            request.add_header("Range", "bytes=%d-" % have)
        try:
            response = urllib.request.urlopen(request, timeout=timeout_s)
        except urllib.error.HTTPError as exc:
            raise ArtifactError("artifact server answered %d for %s" % (exc.code, ref.url)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ArtifactError("cannot reach artifact server at %s: %s" % (ref.url, reason)) from None
        with response:
            mode = "ab" if have and response.status == 206 else "wb"
            written = have if mode == "ab" else 0
            with open(str(part), mode) as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise ArtifactError(
                            "download of %s broke off after %d bytes (%s); it resumes on the next try"
                            % (ref.url, written, exc)
                        ) from None
                    if not chunk:
                        break
                    if should_stop is not None and should_stop():
                        raise ArtifactError("download of %s stopped: the agent is shutting down" % ref.url)
                    if deadline is not None and time.monotonic() > deadline:
                        raise ArtifactError(
                            "download of %s ran past the job's deadline after %d of %d bytes: the artifact "
                            "server is too slow for this link; it resumes on the next try"
                            % (ref.url, written, ref.size_bytes)
                        )
                    written += len(chunk)
                    if written > ref.size_bytes:
                        raise ArtifactError(
                            "artifact at %s is larger than the %d bytes announced: refused" % (ref.url, ref.size_bytes)
                        )
                    out.write(chunk)
        if written < ref.size_bytes:
            raise ArtifactError(
                "download of %s was truncated: %d of %d bytes; it resumes on the next try"
                % (ref.url, written, ref.size_bytes)
            )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(str(path), "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
