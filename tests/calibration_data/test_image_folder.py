"""calibration_data.image_folder on folders of images this test writes with Pillow."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from calibration_data import load_dataset
from calibration_data.image_folder import list_images, load_image_folder

from .files import expect_error, solid, write_image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture()
def class_folders(tmp_path: Path) -> Path:
    """cat/ (red), dog/ (green), bird/ (blue), 4 images each, 6x8 pixels; bird is class 0."""
    root = tmp_path / "val"
    for name, rgb in (("cat", RED), ("dog", GREEN), ("bird", BLUE)):
        for i in range(4):
            write_image(root / name / f"{i:02d}.png", solid(6, 8, rgb))
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def test_class_index_follows_sorted_folder_names(class_folders: Path) -> None:
    ds = load_dataset(class_folders)

    assert ds.class_names == ("bird", "cat", "dog")
    np.testing.assert_array_equal(ds.labels, [0] * 4 + [1] * 4 + [2] * 4)
    x = ds.inputs[""]
    assert x.shape == (12, 3, 6, 8) and x.dtype == np.float32  # default: RGB, [0, 1], NCHW
    np.testing.assert_array_equal(x[0, :, 0, 0], [0, 0, 1])  # bird is blue
    np.testing.assert_array_equal(x[4, :, 0, 0], [1, 0, 0])  # cat is red
    np.testing.assert_array_equal(x[8, :, 0, 0], [0, 1, 0])  # dog is green
    assert ds.source == str(class_folders)


def test_listing_is_sorted_and_skips_hidden_and_non_images(class_folders: Path) -> None:
    files, labels, classes = list_images(class_folders)
    assert [f.relative_to(class_folders).as_posix() for f in files[:5]] == [
        "bird/00.png",
        "bird/01.png",
        "bird/02.png",
        "bird/03.png",
        "cat/00.png",
    ]
    assert len(files) == 12 and labels is not None and classes == ("bird", "cat", "dog")


def test_limit_spreads_over_the_classes(class_folders: Path) -> None:
    ds = load_image_folder(class_folders, limit=3)
    np.testing.assert_array_equal(ds.labels, [0, 1, 2])
    assert ds.num_samples == 3
    again = load_image_folder(class_folders, limit=3)
    np.testing.assert_array_equal(ds.inputs[""], again.inputs[""])


def test_images_deeper_in_a_class_folder_count(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "x" / "1.jpg", solid(4, 4, RED))
    write_image(tmp_path / "b" / "2.bmp", solid(4, 4, BLUE))
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.labels, [0, 1])


def test_flat_folder_has_no_labels(tmp_path: Path) -> None:
    for i, rgb in enumerate((RED, GREEN)):
        write_image(tmp_path / f"img{i}.jpeg", solid(5, 5, rgb))
    ds = load_dataset(tmp_path)
    assert ds.labels is None and ds.class_names is None
    assert ds.num_samples == 2 and ds.inputs[""].shape == (2, 3, 5, 5)


def test_full_spec_resize_crop_normalise_nhwc(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(20, 40, 3), dtype=np.uint8)  # height 20, width 40
    write_image(tmp_path / "wide.png", pixels)
    write_image(tmp_path / "tall.png", pixels.transpose(1, 0, 2).copy())
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    spec = {"resize": 10, "center_crop": 8, "mean": list(mean), "std": list(std), "layout": "NHWC"}

    ds = load_dataset(tmp_path, preprocess=spec)

    from PIL import Image

    # torchvision semantics written out: shorter side to 10 (40x20 -> 20x10), then the centre 8x8.
    expected = Image.fromarray(pixels).resize((20, 10), Image.Resampling.BILINEAR).crop((6, 1, 14, 9))
    want = (np.asarray(expected, dtype=np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
    assert ds.inputs[""].shape == (2, 8, 8, 3)
    np.testing.assert_allclose(ds.inputs[""][1], want, rtol=1e-6, atol=1e-6)  # sorted: tall, wide


def test_grayscale_float16_and_raw_uint8(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", solid(3, 3, (200, 200, 200)))
    gray = load_dataset(tmp_path, preprocess={"color_mode": "L", "dtype": "float16"})
    assert gray.inputs[""].shape == (1, 1, 3, 3) and gray.inputs[""].dtype == np.float16
    np.testing.assert_allclose(gray.inputs[""], 200 / 255, rtol=1e-3)
    raw = load_dataset(tmp_path, preprocess={"scale_to_unit": False, "dtype": "uint8"})
    assert raw.inputs[""].dtype == np.uint8
    np.testing.assert_array_equal(raw.inputs[""], 200)


def test_palette_image_with_transparency_loads_without_warnings(tmp_path: Path) -> None:
    from PIL import Image

    image = Image.fromarray(solid(4, 4, GREEN)).convert("P")
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    ds = load_dataset(tmp_path)  # warnings are errors in this suite
    assert ds.inputs[""].shape == (1, 3, 4, 4)


def test_crop_larger_than_the_image(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", solid(4, 6, RED))
    expect_error(tmp_path, "center_crop 8x8", "4x6", preprocess={"center_crop": 8})


def test_corrupt_and_truncated_images_are_named(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    good = write_image(tmp_path / "a.png", noise)
    (tmp_path / "b.png").write_bytes(b"not a png at all")
    expect_error(tmp_path, "b.png", "cannot be decoded")
    (tmp_path / "b.png").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    expect_error(tmp_path, "b.png", "cannot be decoded")


def test_mixed_layout_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "top.png", solid(2, 2, RED))
    write_image(tmp_path / "cls" / "1.png", solid(2, 2, RED))
    expect_error(tmp_path, "both images", "subfolders")


def test_empty_class_folder_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "1.png", solid(2, 2, RED))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.md").write_text("x")
    expect_error(tmp_path, "/b: class folder 'b'", "class index 1")


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("1,2\n")
    expect_error(tmp_path, "directory", "no images", "1 other file")


def test_sizes_differ_without_resize(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", solid(4, 4, RED))
    write_image(tmp_path / "b.png", solid(5, 4, RED))
    expect_error(tmp_path, "b.png", "is 5x4", "a.png is 4x4", "resize and center_crop")


def test_without_pillow_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "a.png", solid(2, 2, RED))
    monkeypatch.setitem(sys.modules, "PIL", None)  # what `import PIL` sees when Pillow is not installed
    expect_error(tmp_path, "needs Pillow", "pip install pillow")
