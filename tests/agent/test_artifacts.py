"""Artifact download against the real artifact HTTP server: verify, cache, resume, refuse corruption."""

from __future__ import annotations

import hashlib
import os

import pytest

from agent.artifacts import ArtifactCache
from agent.errors import ArtifactError
from agent.protocol import ArtifactRef
from pipeline.artifact_server import ArtifactServer
from pipeline.store import ArtifactStore


@pytest.fixture()
def served(tmp_path):  # type: ignore[no-untyped-def]
    store = ArtifactStore(tmp_path / "store")
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(3 * (1 << 20) + 123))
    art = store.put(src, "model/onnx")
    with ArtifactServer(store) as server:
        ref = ArtifactRef(art.sha256, server.url_for(art.sha256), art.size_bytes, art.media_type)
        yield store, art, ref


def test_download_verifies_and_caches(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    store, art, ref = served
    cache = ArtifactCache(tmp_path / "cache")
    path = cache.fetch(ref)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == art.sha256
    art.path.unlink()  # the server no longer has it: the cached copy must serve
    assert cache.fetch(ref) == path


def test_partial_download_resumes_with_range(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    _store, art, ref = served
    cache = ArtifactCache(tmp_path / "cache")
    part = cache.root / "partial" / (ref.sha256 + ".part")
    part.write_bytes(art.path.read_bytes()[:1000])
    path = cache.fetch(ref)
    assert path.read_bytes() == art.path.read_bytes()
    assert not part.exists()


def test_corrupted_artifact_is_refused_and_not_cached(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    _store, art, ref = served
    data = bytearray(art.path.read_bytes())
    data[100] ^= 0xFF
    art.path.write_bytes(bytes(data))
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactError, match="sha256"):
        cache.fetch(ref)
    assert not cache.path_for(ref.sha256).exists()
    assert not list((cache.root / "partial").iterdir())


def test_truncated_download_says_so_and_keeps_the_part(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    _store, art, ref = served
    art.path.write_bytes(art.path.read_bytes()[:5000])
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactError, match="truncated"):
        cache.fetch(ref)
    assert (cache.root / "partial" / (ref.sha256 + ".part")).stat().st_size == 5000


def test_unknown_artifact_and_unreachable_server(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    _store, _art, ref = served
    cache = ArtifactCache(tmp_path / "cache")
    missing = ArtifactRef("b" * 64, ref.url.rsplit("/", 1)[0] + "/" + "b" * 64, 10, "model/onnx")
    with pytest.raises(ArtifactError, match="404"):
        cache.fetch(missing)
    dead = ArtifactRef(ref.sha256, "http://127.0.0.1:9/artifacts/" + ref.sha256, ref.size_bytes, "model/onnx")
    with pytest.raises(ArtifactError, match="cannot reach"):
        cache.fetch(dead)


def test_server_answers_head_and_ignores_ranges_it_does_not_serve(served) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    _store, art, ref = served
    head = urllib.request.urlopen(urllib.request.Request(ref.url, method="HEAD"))
    assert head.status == 200 and int(head.headers["Content-Length"]) == art.size_bytes and head.read() == b""
    odd = urllib.request.urlopen(urllib.request.Request(ref.url, headers={"Range": "bytes=0-4"}))
    assert odd.status == 200 and len(odd.read()) == art.size_bytes


def test_a_download_past_its_deadline_or_during_shutdown_stops(tmp_path, served) -> None:  # type: ignore[no-untyped-def]
    import time

    _store, _art, ref = served
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactError, match="deadline"):
        cache.fetch(ref, deadline=time.monotonic() - 1)
    with pytest.raises(ArtifactError, match="shutting down"):
        cache.fetch(ref, should_stop=lambda: True)
    assert not cache.path_for(ref.sha256).exists()
    assert cache.fetch(ref).exists()  # and it resumes later
