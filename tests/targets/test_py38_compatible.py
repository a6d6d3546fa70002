"""targets/ and agent/device_match.py stay Python 3.8 compatible (the agent reads them on JetPack 5)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_vermin_finds_nothing_newer_than_python_38():
    beside = Path(sys.executable).parent / "vermin"
    vermin = str(beside) if beside.exists() else shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin (dev extra) is not installed")
    result = subprocess.run(
        [
            vermin,
            "-t=3.8-",
            "--no-tips",
            "--violations",
            str(ROOT / "targets"),
            str(ROOT / "agent" / "device_match.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
