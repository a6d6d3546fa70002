"""calibration_data.spec_file: reading .toml/.json settings, and each way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration_data import DatasetError
from calibration_data.spec_file import read_spec_file, reject_unknown_keys


def test_toml_and_json_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('resize = 8\nmean = [0.5, 0.5]\nname = "x"\n')
    (tmp_path / "a.json").write_text('{"resize": 8, "mean": [0.5, 0.5], "name": "x"}')
    assert (
        read_spec_file(tmp_path / "a.toml")
        == read_spec_file(tmp_path / "a.json")
        == {
            "resize": 8,
            "mean": [0.5, 0.5],
            "name": "x",
        }
    )


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("a.json", '{"resize": 8,', "not valid JSON"),
        ("a.toml", "resize = = 8", "not valid TOML"),
        ("a.json", "[1, 2]", "holds a list, not a table"),
        ("a.yaml", "resize: 8", "must end in .toml or .json"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        read_spec_file(path)
    assert str(info.value).startswith(str(path)) and fragment in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such spec file"):
        read_spec_file(tmp_path / "x.toml")


def test_unknown_keys_singular_and_plural() -> None:
    with pytest.raises(DatasetError, match=r"^s: unknown thing key 'b'; the keys are a$"):
        reject_unknown_keys("s", {"a": 1, "b": 2}, ("a",), "thing")
    with pytest.raises(DatasetError, match="keys 'b', 'c'"):
        reject_unknown_keys("s", {"c": 1, "b": 2}, ("a",), "thing")
    reject_unknown_keys("s", {"a": 1}, ("a",), "thing")
