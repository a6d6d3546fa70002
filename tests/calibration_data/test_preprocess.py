"""calibration_data.preprocess: the spec's defaults, validation, file forms and arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration_data import DatasetError, Preprocess
from calibration_data.preprocess import as_preprocess


def test_defaults_give_float32_nchw_in_unit_range() -> None:
    spec = Preprocess()
    pixels = np.array([[[[0, 51, 255]]]], dtype=np.uint8)  # one 1x1 RGB pixel, [N, H, W, C]
    out = spec.normalise(pixels)
    assert out.shape == (1, 3, 1, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, 0, 0], [0.0, 0.2, 1.0])


def test_mean_std_per_channel_and_nhwc() -> None:
    spec = Preprocess(mean=[0.5, 0.25, 0.0], std=(0.5, 0.25, 2.0), layout="nhwc")
    out = spec.normalise(np.full((2, 1, 1, 3), 255, dtype=np.uint8))
    assert spec.layout == "NHWC" and out.shape == (2, 1, 1, 3)
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 3.0, 0.5])


def test_values_are_normalised_and_frozen() -> None:
    spec = Preprocess(center_crop=224, color_mode="rgb", mean=0.5, dtype="FLOAT16", interpolation="BICUBIC")
    assert spec.center_crop == (224, 224) and spec.color_mode == "RGB" and spec.mean == (0.5,)
    assert spec.dtype == "float16" and spec.interpolation == "bicubic"
    with pytest.raises(AttributeError):
        spec.resize = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"resize": 0}, "resize = 0"),
        ({"resize": True}, "resize = True"),
        ({"resize": 2.5}, "positive whole number"),
        ({"center_crop": [1, 2, 3]}, "[height, width]"),
        ({"layout": "CHW"}, "'NCHW', 'NHWC'"),
        ({"color_mode": "CMYK"}, "'RGB', 'L'"),
        ({"dtype": "int8"}, "'float32', 'float16', 'uint8'"),
        ({"interpolation": "area"}, "'bilinear'"),
        ({"std": [0.5, 0.0, 1.0]}, "positive numbers"),
        ({"mean": [float("nan")]}, "finite"),
        ({"mean": "0.5"}, "list of numbers"),
        ({"scale_to_unit": "yes"}, "true or false"),
        ({"color_mode": "L", "mean": [0.1, 0.2, 0.3]}, "3 values but the images have 1 channel"),
        ({"dtype": "uint8"}, "scale_to_unit = false"),
    ],
)
def test_bad_values_are_named(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DatasetError) as info:
        Preprocess(**kwargs)
    assert fragment in str(info.value)
    assert str(info.value).startswith("preprocess:")


def test_channel_count_is_checked_against_the_source() -> None:
    spec = Preprocess(mean=[0.1, 0.2, 0.3])  # no colour mode: the source decides
    with pytest.raises(DatasetError, match="3 values but the images have 1 channel"):
        spec.normalise(np.zeros((1, 2, 2, 1), dtype=np.uint8))


def test_unknown_keys_are_named() -> None:
    with pytest.raises(DatasetError) as info:
        Preprocess.from_mapping({"resize": 8, "meen": [0.5], "crop": 4})
    message = str(info.value)
    assert "unknown preprocess keys 'crop', 'meen'" in message
    assert "center_crop" in message and "mean" in message  # the keys that exist


def test_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "pre.toml"
    toml.write_text('resize = 256\ncenter_crop = [224, 200]\nmean = [0.485, 0.456, 0.406]\nlayout = "NHWC"\n')
    js = tmp_path / "pre.json"
    js.write_text(
        json.dumps({"resize": 256, "center_crop": [224, 200], "mean": [0.485, 0.456, 0.406], "layout": "NHWC"})
    )
    assert Preprocess.from_file(toml) == Preprocess.from_file(js) == as_preprocess(str(js))
    assert Preprocess.from_file(toml).center_crop == (224, 200)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pre.json"
    path.write_text('{"layout": "CHW"}')
    with pytest.raises(DatasetError, match=rf"^{path}: preprocess: layout = 'CHW'"):
        Preprocess.from_file(path)
    path.write_text('{"source": "folder", "path": "x"}')
    with pytest.raises(DatasetError, match="data spec, not a preprocessing spec"):
        Preprocess.from_file(path)


def test_as_preprocess_forms() -> None:
    assert as_preprocess(None) is None
    spec = Preprocess(resize=3)
    assert as_preprocess(spec) is spec
    assert as_preprocess({"resize": 3}) == spec
    with pytest.raises(DatasetError, match="not int"):
        as_preprocess(3)  # type: ignore[arg-type]


def test_resize_keeps_the_aspect_ratio_like_torchvision(tmp_path: Path) -> None:
    from PIL import Image

    spec = Preprocess(resize=100)
    assert spec.resize_and_crop(Image.new("RGB", (333, 500)), tmp_path).size == (100, 150)
    assert spec.resize_and_crop(Image.new("RGB", (640, 480)), tmp_path).size == (133, 100)
    crop = Preprocess(center_crop=(2, 4)).resize_and_crop(Image.new("RGB", (10, 5)), tmp_path)
    assert crop.size == (4, 2)
