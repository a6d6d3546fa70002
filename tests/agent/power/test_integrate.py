from __future__ import annotations

import pytest

from agent.power.integrate import integrate_trapezoid, interpolate


def test_interpolate_between_and_at_points():
    ts, vs = [0.0, 1.0, 3.0], [10.0, 20.0, 0.0]
    assert interpolate(ts, vs, 0.0) == 10.0
    assert interpolate(ts, vs, 0.25) == pytest.approx(12.5)
    assert interpolate(ts, vs, 1.0) == 20.0
    assert interpolate(ts, vs, 2.5) == pytest.approx(5.0)
    assert interpolate(ts, vs, 3.0) == 0.0


def test_interpolate_refuses_to_extrapolate():
    with pytest.raises(ValueError, match="outside"):
        interpolate([0.0, 1.0], [1.0, 1.0], 1.5)


def test_trapezoid_over_a_window_against_a_hand_computed_value():
    # (0,0) (1,2) (2,2) (3,0); window [0.5, 2.5]:
    # [0.5,1]: (1+2)/2*0.5 = 0.75; [1,2]: 2*1 = 2; [2,2.5]: (2+1)/2*0.5 = 0.75  -> 3.5
    ts, vs = [0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 2.0, 0.0]
    assert integrate_trapezoid(ts, vs, 0.5, 2.5) == pytest.approx(3.5)
    assert integrate_trapezoid(ts, vs, 0.0, 3.0) == pytest.approx(4.0)


def test_trapezoid_is_exact_for_a_linear_power_on_irregular_samples():
    # p(t) = 2 + 3t, integral over [0.25, 1.7] = 2*1.45 + 1.5*(1.7^2 - 0.25^2)
    ts = [0.0, 0.1, 0.45, 0.5, 1.2, 1.69, 2.0]
    vs = [2 + 3 * t for t in ts]
    expected = 2 * 1.45 + 1.5 * (1.7**2 - 0.25**2)
    assert integrate_trapezoid(ts, vs, 0.25, 1.7) == pytest.approx(expected)


def test_window_inside_one_segment_interpolates_both_edges():
    # one segment from (0, 0) to (10, 100); window [2, 3]: mean of p(2)=20 and p(3)=30 over 1 s
    assert integrate_trapezoid([0.0, 10.0], [0.0, 100.0], 2.0, 3.0) == pytest.approx(25.0)


def test_window_edges_on_sample_points_and_empty_window():
    ts, vs = [0.0, 1.0, 2.0], [4.0, 4.0, 4.0]
    assert integrate_trapezoid(ts, vs, 1.0, 2.0) == pytest.approx(4.0)
    assert integrate_trapezoid(ts, vs, 1.0, 1.0) == 0.0


@pytest.mark.parametrize(
    "ts,vs,t0,t1,msg",
    [
        ([0.0, 1.0], [1.0, 1.0], -0.1, 1.0, "do not cover"),
        ([0.0, 1.0], [1.0, 1.0], 0.0, 1.1, "do not cover"),
        ([0.0, 1.0], [1.0, 1.0], 0.8, 0.2, "precedes"),
        ([0.0], [1.0], 0.0, 0.0, "at least two"),
        ([0.0, 1.0], [1.0], 0.0, 1.0, "differ in length"),
        ([1.0, 0.0], [1.0, 1.0], 0.0, 1.0, "non-decreasing"),
    ],
)
def test_bad_input_is_refused(ts, vs, t0, t1, msg):
    with pytest.raises(ValueError, match=msg):
        integrate_trapezoid(ts, vs, t0, t1)
