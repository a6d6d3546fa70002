"""Helpers for target-profile tests: write a shipped profile, modified, into tmp_path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from targets import SHIPPED_DIR


def shipped_data(profile_id: str) -> dict[str, Any]:
    return yaml.safe_load((SHIPPED_DIR / f"{profile_id}.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """write_profile(data, name=None, folder=None) -> path of the written YAML file."""

    def write(data: dict[str, Any], name: str | None = None, folder: Path | None = None) -> Path:
        folder = folder or (tmp_path / "user-targets")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name or data.get('id', 'profile')}.yaml"
        path.write_text(yaml.safe_dump(copy.deepcopy(data), sort_keys=False), encoding="utf-8")
        return path

    return write
