"""calibration_data.data_spec: a .toml/.json file that points at images with their preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration_data import load_dataset
from calibration_data.data_spec import load_data_spec

from .files import expect_error, solid, write_idx, write_image


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        for i in range(3):
            write_image(tmp_path / "imgs" / name / f"{i}.png", solid(10, 12, (255, 255, 255)))
    return tmp_path / "imgs"


def test_toml_spec_for_a_folder_relative_to_the_spec(folder: Path, tmp_path: Path) -> None:
    spec = tmp_path / "calib.toml"
    spec.write_text('source = "folder"\npath = "imgs"\nlimit = 4\nresize = 8\ncenter_crop = 6\nmean = 0.5\nstd = 0.5\n')

    ds = load_dataset(spec)

    assert ds.inputs[""].shape == (4, 3, 6, 6)
    np.testing.assert_allclose(ds.inputs[""], 1.0)  # white: (1 - 0.5) / 0.5
    np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1])
    assert ds.class_names == ("a", "b")


def test_json_spec_for_idx_with_explicit_labels(tmp_path: Path) -> None:
    write_idx(tmp_path / "pics-idx3-ubyte", np.zeros((5, 4, 4), dtype=np.uint8))
    write_idx(tmp_path / "answers-idx1-ubyte", np.arange(5, dtype=np.uint8))
    spec = tmp_path / "eval.json"
    spec.write_text(json.dumps({"source": "idx", "path": "pics-idx3-ubyte", "labels": "answers-idx1-ubyte"}))

    ds = load_dataset(spec)

    assert ds.inputs[""].shape == (5, 1, 4, 4)
    np.testing.assert_array_equal(ds.labels, np.arange(5))


def test_limit_argument_overrides_the_file(folder: Path, tmp_path: Path) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"source": "folder", "path": str(folder), "limit": 4}))
    assert load_data_spec(spec, limit=2).num_samples == 2
    assert load_dataset(spec).num_samples == 4


def test_preprocess_argument_with_a_spec_without_keys(folder: Path, tmp_path: Path) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"source": "folder", "path": "imgs"}))
    assert load_dataset(spec, preprocess={"layout": "NHWC"}).inputs[""].shape == (6, 10, 12, 3)


def test_preprocess_in_two_places_is_refused(folder: Path, tmp_path: Path) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"source": "folder", "path": "imgs", "resize": 8}))
    expect_error(spec, "preprocessing keys (resize)", "one place", preprocess={"layout": "NHWC"})


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ({"path": "imgs"}, ("no 'source' key", 'source = "folder"')),
        ({"source": "csv", "path": "imgs"}, ("source = 'csv' is not known",)),
        ({"source": "folder"}, ("'path' is missing",)),
        ({"source": "folder", "path": "imgs", "labels": "x"}, ("'labels' applies only",)),
        ({"source": "folder", "path": "imgs", "limit": 0}, ("limit must be a positive",)),
        ({"source": "folder", "path": "imgs", "rezise": 8}, ("unknown data spec key 'rezise'", "resize")),
        ({"source": "folder", "path": "imgs", "layout": "CHW"}, ("layout = 'CHW'",)),
    ],
    ids=["no-source", "bad-source", "no-path", "labels-for-folder", "limit", "unknown-key", "bad-value"],
)
def test_bad_specs_name_the_file_and_the_key(folder: Path, tmp_path: Path, table: dict, fragments: tuple) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(table))
    expect_error(spec, *fragments)


def test_missing_target(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('source = "folder"\npath = "nowhere"\n')
    expect_error(spec, "path = 'nowhere' does not exist", str(tmp_path / "nowhere"))
