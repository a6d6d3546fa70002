"""calibration_data.loaders on real files in tmp_path: good ones, and each kind of bad one."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from calibration_data import DIGITS_CALIB, DIGITS_EVAL
from calibration_data.loaders import Dataset, DatasetError, load_dataset


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 1, 4, 4)).astype(np.float32)


def _expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


class _Marker:
    """Unpickling this creates a file: proof that the loader never unpickles."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- good files -------------------------------------------------------------------------------


def test_npz_with_labels(tmp_path: Path) -> None:
    x, ids = _images(), np.arange(6, dtype=np.int64)[:, None]
    labels = np.array([0, 1, 2, 3, 4, 5], dtype=np.int32)
    path = tmp_path / "data.npz"
    np.savez(path, image=x, ids=ids, labels=labels)

    ds = load_dataset(path)

    assert isinstance(ds, Dataset)
    assert sorted(ds.inputs) == ["ids", "image"]
    np.testing.assert_array_equal(ds.inputs["image"], x)
    assert ds.inputs["image"].dtype == np.float32
    assert ds.inputs["ids"].dtype == np.int64  # input dtypes are kept as stored
    assert ds.labels is not None and ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.num_samples == 6
    assert ds.source == str(path)


def test_npz_without_labels_and_str_path(tmp_path: Path) -> None:
    path = tmp_path / "calib.npz"
    np.savez_compressed(path, image=_images(3))
    ds = load_dataset(str(path))
    assert ds.labels is None
    assert list(ds.inputs) == ["image"]
    assert ds.num_samples == 3


def test_npy_is_the_only_input(tmp_path: Path) -> None:
    x = _images(5)
    path = tmp_path / "data.npy"
    np.save(path, x)
    ds = load_dataset(path)
    assert list(ds.inputs) == [""]
    np.testing.assert_array_equal(ds.inputs[""], x)
    assert ds.labels is None and ds.num_samples == 5


def test_dataset_is_frozen(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image=_images(2))
    ds = load_dataset(path)
    with pytest.raises(AttributeError):
        ds.num_samples = 3  # type: ignore[misc]


def test_error_is_a_plain_exception() -> None:
    assert issubclass(DatasetError, Exception)
    assert not issubclass(DatasetError, ValueError)


@pytest.mark.parametrize("path", [DIGITS_CALIB, DIGITS_EVAL], ids=["calib", "eval"])
def test_bundled_digits_files_load(path: Path) -> None:
    ds = load_dataset(path)
    assert list(ds.inputs) == ["image"]
    assert ds.inputs["image"].shape == (ds.num_samples, 1, 32, 32)
    assert ds.labels is not None and ds.labels.shape == (ds.num_samples,)


# --- bad files ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.npz", "no such file", "check the path")


def test_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path, "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    _expect_error(path, "empty", "np.savez")


def test_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    path.write_text("image,label\n0.1,3\n")
    _expect_error(path, "not a valid .npz", "np.savez")


def test_not_an_npy(tmp_path: Path) -> None:
    path = tmp_path / "data.npy"
    path.write_bytes(b"\x00\x01garbage" * 10)
    _expect_error(path, "not a valid .npy", "np.save(")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("1,2,3\n")
    _expect_error(path, "unsupported", ".csv", "folder of images", "data spec")


def test_truncated_npz(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, image=_images(50), labels=np.arange(50))
    blob = good.read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(blob[: len(blob) // 2])
    _expect_error(path, "truncated or corrupt")


def test_corrupt_compressed_member(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.npz"
    np.savez_compressed(path, image=_images(200))
    blob = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("image.npy")
    start = info.header_offset + 30 + len(info.filename) + 20  # inside the deflated stream
    for i in range(start, start + 64):
        blob[i] ^= 0xFF
    path.write_bytes(bytes(blob))
    _expect_error(path, "truncated or corrupt")


def test_truncated_npy(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, _images(50))
    path = tmp_path / "truncated.npy"
    path.write_bytes(good.read_bytes()[:300])
    _expect_error(path, "truncated or corrupt", "npy")


def test_inconsistent_first_dimension(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image=_images(6), mask=np.ones((5, 4), dtype=np.float32))
    _expect_error(path, "number of samples", "image=6", "mask=5", "same length")


def test_labels_length_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image=_images(6), labels=np.arange(7))
    _expect_error(path, "labels=7", "image=6")


@pytest.mark.parametrize(
    "labels",
    [np.zeros((6, 1), dtype=np.int64), np.zeros(6, dtype=np.float32), np.array(["a"] * 6)],
    ids=["2d", "float", "str"],
)
def test_labels_not_1d_integers(tmp_path: Path, labels: np.ndarray) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image=_images(6), labels=labels)
    _expect_error(path, "1-D integers", str(labels.dtype))


def test_negative_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, image=_images(3), labels=np.array([0, -1, 2]))
    _expect_error(path, "negative")


def test_pickled_object_array_npz_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "was_unpickled"
    objs = np.empty(2, dtype=object)
    objs[0], objs[1] = _Marker(marker), _Marker(marker)
    path = tmp_path / "evil.npz"
    np.savez(path, image=objs)
    _expect_error(path, "pickled")
    assert not marker.exists()


def test_pickled_object_array_npy_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "was_unpickled"
    objs = np.empty(1, dtype=object)
    objs[0] = _Marker(marker)
    path = tmp_path / "evil.npy"
    np.save(path, objs, allow_pickle=True)
    _expect_error(path, "pickled")
    assert not marker.exists()


def test_npz_without_arrays(tmp_path: Path) -> None:
    path = tmp_path / "none.npz"
    np.savez(path)
    _expect_error(path, "no arrays")


def test_npz_with_only_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.npz"
    np.savez(path, labels=np.arange(3))
    _expect_error(path, "only a 'labels' array")


def test_npz_with_non_array_member(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    np.savez(path, image=_images(2))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("notes.txt", "hello")
    _expect_error(path, "notes.txt", "not a NumPy array")


def test_string_input_array(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(path, text=np.array(["a", "b"]))
    _expect_error(path, "'text'", "not numbers")


def test_scalar_input_array(tmp_path: Path) -> None:
    path = tmp_path / "s.npy"
    np.save(path, np.float32(1.0))
    _expect_error(path, "scalar", "axis 0")


def test_zero_samples(tmp_path: Path) -> None:
    path = tmp_path / "z.npz"
    np.savez(path, image=np.zeros((0, 1, 4, 4), dtype=np.float32), labels=np.zeros(0, dtype=np.int64))
    _expect_error(path, "0 samples")


# --- non-finite values, limit, dispatch --------------------------------------------------------


def test_nan_in_npz_is_refused_with_the_array_named(tmp_path: Path) -> None:
    x = _images(6)
    x[1, 0, 0, :3] = np.nan
    path = tmp_path / "calib.npz"
    np.savez(path, image=x, labels=np.arange(6))
    _expect_error(path, "array 'image' holds 3 NaN values", "at index 1")


def test_inf_in_npy_is_refused(tmp_path: Path) -> None:
    x = _images(4).astype(np.float16)
    x[3] = np.inf
    path = tmp_path / "calib.npy"
    np.save(path, x)
    _expect_error(path, "the array holds 16 infinite values", "index 3")


def test_limit_keeps_inputs_and_labels_aligned(tmp_path: Path) -> None:
    x = _images(10)
    path = tmp_path / "eval.npz"
    np.savez(path, image=x, labels=np.arange(10) % 3)
    ds = load_dataset(path, limit=5)
    assert ds.num_samples == 5
    np.testing.assert_array_equal(ds.inputs["image"], x[::2])
    np.testing.assert_array_equal(ds.labels, (np.arange(10) % 3)[::2])
    assert load_dataset(path, limit=50).num_samples == 10


def test_bad_limit(tmp_path: Path) -> None:
    path = tmp_path / "eval.npz"
    np.savez(path, image=_images(2))
    with pytest.raises(DatasetError, match="limit must be a positive whole number"):
        load_dataset(path, limit=0)


def test_preprocess_is_refused_for_already_preprocessed_arrays(tmp_path: Path) -> None:
    path = tmp_path / "calib.npz"
    np.savez(path, image=_images(2))
    with pytest.raises(DatasetError, match="already preprocessed"):
        load_dataset(path, preprocess={"resize": 8})


def test_dispatch_to_folder_idx_and_spec(tmp_path: Path) -> None:
    from .files import solid, write_idx, write_image

    write_image(tmp_path / "imgs" / "a.png", solid(2, 2, (0, 0, 0)))
    assert load_dataset(tmp_path / "imgs").inputs[""].shape == (1, 3, 2, 2)
    write_idx(tmp_path / "x-images-idx3-ubyte.gz", np.zeros((2, 3, 3), dtype=np.uint8))
    assert load_dataset(tmp_path / "x-images-idx3-ubyte.gz").inputs[""].shape == (2, 1, 3, 3)
    (tmp_path / "spec.toml").write_text('source = "folder"\npath = "imgs"\ncolor_mode = "L"\n')
    assert load_dataset(tmp_path / "spec.toml").inputs[""].shape == (1, 1, 2, 2)


def test_npz_suffix_wins_over_an_idx_looking_head(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 40)
    _expect_error(path, "not a valid .npz")
