"""Atomic output files with the mode of a normal file (pipeline/files.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipeline.files import write_atomic


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for the rest of one test; the old one comes back after."""
    saved = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(saved)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_the_file_is_0644_masked_by_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_atomic(tmp_path / "results.json", "{}\n")
    assert mode(tmp_path / "results.json") == expected


def test_replacing_a_file_gives_the_new_content_and_mode_and_leaves_no_temp_file(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "report.html"
    target.write_text("old")
    target.chmod(0o600)
    write_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert mode(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_the_parent_folder_is_created(tmp_path):
    write_atomic(tmp_path / "a" / "b" / "results.json", "x")
    assert (tmp_path / "a" / "b" / "results.json").read_text() == "x"


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "\udcff")  # a lone surrogate cannot be encoded as UTF-8
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
