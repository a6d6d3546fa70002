"""calibration_data.idx on the real MNIST test set (read-only, from ../shared/eval) and generated files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from calibration_data import DatasetError, load_dataset
from calibration_data.idx import find_labels_file, load_idx, read_idx

from .files import expect_error, write_idx


@pytest.fixture()
def mnist_images(mnist_dir: Path) -> Path:
    path = mnist_dir / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        pytest.skip(f"MNIST test images not found at {path} (they live in ../shared/eval/)")
    return path


def _digits(n: int = 7, h: int = 5, w: int = 4) -> np.ndarray:
    return (np.arange(n * h * w) % 256).astype(np.uint8).reshape(n, h, w)


# --- the real MNIST test set ---------------------------------------------------------------------


def test_mnist_test_set_with_paired_labels(mnist_images: Path) -> None:
    ds = load_dataset(mnist_images)

    x = ds.inputs[""]
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0  # 8-bit pixels scaled to [0, 1]
    assert ds.labels is not None and ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])  # MNIST's first test digits
    np.testing.assert_array_equal(np.bincount(ds.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert "t10k-labels-idx1-ubyte.gz" in ds.source


def test_mnist_reaches_the_cases_published_top1(mnist_images: Path, mnist_dir: Path) -> None:
    """The eval case's README: normalise (x - 0.5) / 0.5, FP32 top-1 0.9877 on all 10,000 images.

    A fifth of them keeps the test quick; a wrong byte order, pairing or scaling falls far below.
    """
    import onnxruntime as ort

    ds = load_dataset(mnist_images, preprocess={"mean": 0.5, "std": 0.5}, limit=2000)
    session = ort.InferenceSession(str(mnist_dir / "mnist-cnn.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: ds.inputs[""]})[0]

    assert float((logits.argmax(axis=1) == ds.labels).mean()) >= 0.98


def test_truncated_copy_of_mnist_is_refused(mnist_images: Path, tmp_path: Path) -> None:
    raw = gzip.decompress(mnist_images.read_bytes())
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(raw[: len(raw) // 2])

    message = expect_error(path, "truncated", "10000x28x28", "7840000 bytes", "download or copy")
    assert str(len(raw) // 2 - 16) in message  # the bytes that do follow the header


def test_truncated_gzip_is_refused(mnist_images: Path, tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    blob = mnist_images.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])
    expect_error(path, "truncated or corrupt gzip")


def test_mnist_limit_is_evenly_spaced_and_deterministic(mnist_images: Path) -> None:
    full = load_dataset(mnist_images)
    a = load_dataset(mnist_images, limit=100)
    b = load_idx(mnist_images, limit=100)
    assert a.num_samples == 100 and a.inputs[""].shape == (100, 1, 28, 28)
    np.testing.assert_array_equal(a.inputs[""], b.inputs[""])
    np.testing.assert_array_equal(a.inputs[""], full.inputs[""][::100])
    np.testing.assert_array_equal(a.labels, full.labels[::100])


# --- generated files ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_round_trip_with_labels_found_beside(tmp_path: Path, gz: bool) -> None:
    suffix = ".gz" if gz else ""
    images = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", _digits())
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.arange(7, dtype=np.uint8))

    ds = load_dataset(images, preprocess={"scale_to_unit": False, "dtype": "uint8"})

    np.testing.assert_array_equal(ds.inputs[""][:, 0], _digits())
    np.testing.assert_array_equal(ds.labels, np.arange(7))


def test_labels_pairing_across_gzip_and_raw(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "t10k-images.idx3-ubyte.gz", _digits())
    labels = write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.arange(7, dtype=np.uint8))
    assert find_labels_file(images) == labels
    assert find_labels_file(tmp_path / "pictures-idx3-ubyte") is None


def test_explicit_labels_and_no_labels(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "x-idx3-ubyte", _digits())
    assert load_dataset(images).labels is None  # no name to pair by, and none given
    labels = write_idx(tmp_path / "answers-idx1-ubyte", np.full(7, 3, dtype=np.uint8))
    ds = load_idx(images, labels=labels)
    np.testing.assert_array_equal(ds.labels, np.full(7, 3))


def test_float_and_int_element_types_are_read_in_native_order(tmp_path: Path) -> None:
    values = np.linspace(-2.5, 3.5, 24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx3-ubyte", values)), values)
    shorts = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    read = read_idx(write_idx(tmp_path / "s-idx2-ubyte", shorts))
    np.testing.assert_array_equal(read, shorts)
    assert read.dtype.isnative


def test_float_images_without_scaling(tmp_path: Path) -> None:
    values = np.linspace(0, 1, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    path = write_idx(tmp_path / "f-images-idx3-ubyte", values)
    expect_error(path, "float32", "scale_to_unit = false")
    ds = load_dataset(path, preprocess={"scale_to_unit": False, "layout": "NHWC"})
    np.testing.assert_array_equal(ds.inputs[""][..., 0], values)


def test_nan_in_float_images_is_refused(tmp_path: Path) -> None:
    values = np.zeros((4, 2, 2), dtype=np.float32)
    values[2, 1, 1] = np.nan
    path = write_idx(tmp_path / "f-images-idx3-ubyte", values)
    expect_error(path, "1 NaN", "index 2", preprocess={"scale_to_unit": False})


def test_rgb_and_resize(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "d-images-idx3-ubyte", np.full((3, 8, 8), 255, dtype=np.uint8))
    ds = load_dataset(path, preprocess={"color_mode": "RGB", "resize": 4, "layout": "NHWC"})
    assert ds.inputs[""].shape == (3, 4, 4, 3)
    np.testing.assert_allclose(ds.inputs[""], 1.0)


@pytest.mark.parametrize(
    ("blob", "fragments"),
    [
        (b"\x00\x00", ("2 bytes", "too short")),
        (b"\x01\x02\x08\x03" + b"\x00" * 20, ("0x01020803", "two zero bytes")),
        (b"\x00\x00\x07\x03" + b"\x00" * 20, ("unknown element type 0x07",)),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", ("truncated inside its header", "8 of 16")),
        (b"\x00\x00\x08\x00", ("0 dimensions",)),
    ],
    ids=["short", "magic", "type", "header", "ndim0"],
)
def test_bad_headers(tmp_path: Path, blob: bytes, fragments: tuple[str, ...]) -> None:
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(blob)
    expect_error(path, *fragments)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "a-images-idx3-ubyte", _digits())
    path.write_bytes(path.read_bytes() + b"\x00\x01\x02")
    expect_error(path, "3 bytes after")


def test_name_and_header_disagree(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "swapped-images-idx3-ubyte", np.arange(7, dtype=np.uint8))
    expect_error(path, "name says idx3", "1 dimension", "swapped")


def test_labels_file_given_as_the_images(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(7, dtype=np.uint8))
    expect_error(path, "not images", "labels file")


def test_labels_count_must_match(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "t-images-idx3-ubyte", _digits(7))
    labels = write_idx(tmp_path / "t-labels-idx1-ubyte", np.arange(6, dtype=np.uint8))
    with pytest.raises(DatasetError, match="holds 6 labels but the images file holds 7 images"):
        load_dataset(images)
    with pytest.raises(DatasetError, match=str(labels)):
        load_dataset(images)


def test_labels_must_be_integers(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "t-images-idx3-ubyte", _digits(2))
    write_idx(tmp_path / "t-labels-idx1-ubyte", np.array([0.5, 1.5], dtype=np.float32))
    with pytest.raises(DatasetError, match="1-D integer idx1"):
        load_dataset(images)


def test_unnamed_idx_bytes_are_not_guessed(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "mystery.bin", _digits())
    expect_error(path, "IDX or gzip", "t10k-images-idx3-ubyte")


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "t10k-images-idx3-ubyte.gz", "no such file")
