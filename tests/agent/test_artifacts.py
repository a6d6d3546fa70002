"""Artifact download against the real artifact HTTP server: verify, cache, resume, refuse corruption."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from agent.artifacts import ArtifactCache
from agent.errors import ArtifactError
from agent.protocol import MANIFEST_MEDIA_TYPE, ArtifactRef
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


@pytest.fixture()
def served_build(tmp_path):  # type: ignore[no-untyped-def]
    """A two-member build (an OpenVINO IR's layout) served by the real artifact server."""
    store = ArtifactStore(tmp_path / "store")
    xml, weights = tmp_path / "model.xml", tmp_path / "model.bin"
    xml.write_bytes(b"<net/>" * 1000)
    weights.write_bytes(os.urandom(2 * (1 << 20) + 7))
    build = store.put_build("openvino-ir", {"model": xml, "weights": weights}, settings={"note": "test"})
    with ArtifactServer(store) as server:
        obj = build.manifest_object
        yield build, ArtifactRef(obj.sha256, server.url_for(obj.sha256), obj.size_bytes, MANIFEST_MEDIA_TYPE)


def test_a_build_is_fetched_member_by_member_and_laid_out_by_name(tmp_path, served_build) -> None:  # type: ignore[no-untyped-def]
    build, ref = served_build
    local = ArtifactCache(tmp_path / "cache").fetch_build(ref)

    assert local.kind == "openvino-ir" and local.settings == {"note": "test"}
    assert local.path("model").name == "model.xml" and local.path("weights").name == "model.bin"
    assert local.path("model").parent == local.path("weights").parent  # the .bin beside its .xml
    assert local.path("weights").read_bytes() == build.path("weights").read_bytes()


def test_an_altered_member_is_refused_like_an_altered_file(tmp_path, served_build) -> None:  # type: ignore[no-untyped-def]
    build, ref = served_build
    data = bytearray(build.path("weights").read_bytes())
    data[12345] ^= 0xFF
    build.path("weights").write_bytes(bytes(data))
    cache = ArtifactCache(tmp_path / "cache")

    with pytest.raises(ArtifactError, match="sha256"):
        cache.fetch_build(ref)
    assert not (cache.root / "builds" / ref.sha256 / "model.bin").exists()


def test_a_truncated_member_says_so_and_resumes(tmp_path, served_build) -> None:  # type: ignore[no-untyped-def]
    build, ref = served_build
    whole = build.path("weights").read_bytes()
    build.path("weights").write_bytes(whole[:4096])
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactError, match="truncated"):
        cache.fetch_build(ref)

    build.path("weights").write_bytes(whole)  # the server has it again: the download resumes
    assert cache.fetch_build(ref).path("weights").read_bytes() == whole


def test_a_job_pointing_at_a_plain_file_or_a_bad_manifest_is_refused(tmp_path, served_build) -> None:  # type: ignore[no-untyped-def]
    build, ref = served_build
    cache = ArtifactCache(tmp_path / "cache")
    plain = ArtifactRef(ref.sha256, ref.url, ref.size_bytes, "model/onnx")
    with pytest.raises(ArtifactError, match="not an edgeprof artifact manifest"):
        cache.fetch_build(plain)

    member = build.manifest.member("model")
    as_manifest = ref.sibling(member.sha256, member.size_bytes, MANIFEST_MEDIA_TYPE)
    with pytest.raises(ArtifactError, match="manifest .* is not valid"):
        cache.fetch_build(as_manifest)


@pytest.fixture()
def three_served(tmp_path):  # type: ignore[no-untyped-def]
    """Three 1 MiB artifacts and a two-member build, served by the real artifact server."""
    store = ArtifactStore(tmp_path / "store")
    refs = {}
    with ArtifactServer(store) as server:
        for name in "abc":
            src = tmp_path / f"{name}.bin"
            src.write_bytes(os.urandom(1 << 20))
            art = store.put(src, "model/onnx")
            refs[name] = ArtifactRef(art.sha256, server.url_for(art.sha256), art.size_bytes, art.media_type)
        xml, weights = tmp_path / "m.xml", tmp_path / "m.bin"
        xml.write_bytes(b"<net/>" * 100)
        weights.write_bytes(os.urandom(1 << 20))
        obj = store.put_build("openvino-ir", {"model": xml, "weights": weights}).manifest_object
        refs["build"] = ArtifactRef(obj.sha256, server.url_for(obj.sha256), obj.size_bytes, MANIFEST_MEDIA_TYPE)
        yield refs


def _job(cache: ArtifactCache, *refs: ArtifactRef) -> list[str]:
    """What JobRunner does: fetch a job's files, then evict for the next one."""
    with cache.job():
        for ref in refs:
            cache.fetch_build(ref) if ref.media_type == MANIFEST_MEDIA_TYPE else cache.fetch(ref)
        return cache.evict()


def test_the_cache_evicts_least_recently_used_files_to_its_bound(tmp_path, three_served) -> None:  # type: ignore[no-untyped-def]
    a, b, c = three_served["a"], three_served["b"], three_served["c"]
    cache = ArtifactCache(tmp_path / "cache", max_bytes=int(2.5 * (1 << 20)))
    assert _job(cache, a) == [] and _job(cache, b) == []
    time.sleep(0.02)
    assert _job(cache, a) == []  # a used again: b is now the least recently used
    time.sleep(0.02)
    assert _job(cache, c) == [b.sha256]
    assert cache.path_for(a.sha256).exists() and cache.path_for(c.sha256).exists()
    assert not cache.path_for(b.sha256).exists()
    assert cache.size_bytes() == 2 * (1 << 20) <= cache.max_bytes
    assert cache.fetch(b).read_bytes() == cache.fetch(b).read_bytes()  # an evicted file is fetched again


def test_the_running_jobs_files_are_never_evicted_even_over_the_bound(tmp_path, three_served) -> None:  # type: ignore[no-untyped-def]
    a, b, c = three_served["a"], three_served["b"], three_served["c"]
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1 << 20)
    _job(cache, a)
    time.sleep(0.02)
    evicted = _job(cache, b, c)  # two files of this job: 2 MiB over a 1 MiB bound
    assert evicted == [a.sha256]
    assert cache.path_for(b.sha256).exists() and cache.path_for(c.sha256).exists()


def test_evicting_a_member_removes_the_build_folder_that_links_it(tmp_path, three_served) -> None:  # type: ignore[no-untyped-def]
    cache = ArtifactCache(tmp_path / "cache", max_bytes=int(1.5 * (1 << 20)))
    with cache.job():
        local = cache.fetch_build(three_served["build"])
        assert cache.evict() == []
    weights = local.path("weights")  # a hard link to the cached member: same inode
    os.utime(weights, (time.time() - 3600, time.time() - 3600))  # the member alone is old
    evicted = _job(cache, three_served["a"])
    assert [cache.path_for(sha).exists() for sha in evicted] == [False]
    assert not weights.parent.exists()  # its hard link would have kept the evicted blocks on disk
    assert cache.path_for(three_served["build"].sha256).exists()  # the manifest was recent: kept
    assert cache.fetch_build(three_served["build"]).path("weights").exists()  # laid out again on use
