"""calibration_data.dataset: the shared checks (finite values, limit) every loader relies on."""

from __future__ import annotations

import numpy as np
import pytest

from calibration_data.dataset import DatasetError, check_finite, check_limit, evenly_spaced


def test_check_finite_counts_nan_and_inf_and_names_samples() -> None:
    x = np.zeros((10, 2, 2), dtype=np.float32)
    x[3, 0, 0] = x[3, 1, 1] = x[7, 0, 1] = np.nan
    x[8, 0, 0] = np.inf
    with pytest.raises(DatasetError) as info:
        check_finite("calib.npz", "image", x)
    message = str(info.value)
    assert message.startswith("calib.npz: array 'image' holds 3 NaN and 1 infinite values")
    assert "in 3 of 10 samples, at index 3, 7, 8" in message
    assert "np.isfinite" in message


def test_check_finite_ignores_integers_and_passes_clean_floats() -> None:
    check_finite("f", "ids", np.array([[1, 2]], dtype=np.int64))
    check_finite("f", "x", np.ones((3, 2), dtype=np.float16))
    check_finite("f", "x", np.zeros((0, 4), dtype=np.float32))


def test_check_finite_lists_at_most_five_samples() -> None:
    x = np.full((8, 1), -np.inf)
    with pytest.raises(DatasetError, match=r"8 infinite values \(in 8 of 8 samples, at index 0, 1, 2, 3, 4, \.\.\.\)"):
        check_finite("f", "", x)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_check_limit_refuses_non_counts(bad: object) -> None:
    with pytest.raises(DatasetError, match="limit must be a positive whole number"):
        check_limit(bad)


def test_check_limit_accepts_counts() -> None:
    assert check_limit(None) is None
    assert check_limit(np.int64(3)) == 3


def test_evenly_spaced() -> None:
    np.testing.assert_array_equal(evenly_spaced(12, 3), [0, 4, 8])
    np.testing.assert_array_equal(evenly_spaced(10, 4), [0, 2, 5, 7])
    np.testing.assert_array_equal(evenly_spaced(3, 5), [0, 1, 2])
    np.testing.assert_array_equal(evenly_spaced(3, None), [0, 1, 2])
    picked = evenly_spaced(1000, 999)
    assert len(set(picked.tolist())) == 999 and picked[-1] < 1000
