"""Content-addressed store: one copy per content, complete files only."""

from __future__ import annotations

import hashlib

from pipeline.store import ArtifactStore


def test_same_bytes_are_stored_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ArtifactStore(tmp_path / "s")
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"model bytes")
    b.write_bytes(b"model bytes")
    first, second = store.put(a, "model/onnx"), store.put(b, "model/onnx")
    assert first.sha256 == second.sha256 == hashlib.sha256(b"model bytes").hexdigest()
    assert len(list((tmp_path / "s" / "objects").rglob("*"))) == 2  # one folder, one file
    assert store.get(first.sha256) == first.path


def test_get_refuses_anything_but_a_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ArtifactStore(tmp_path / "s")
    assert store.get("../../etc/passwd") is None
    assert store.get("0" * 64) is None
