"""The one number formatter family (pipeline/numbers.py)."""

from __future__ import annotations

import math

from pipeline.numbers import DASH, finite, fmt, fmt_pct, format_number, is_number


def test_format_number():
    assert format_number(430.1) == "430"
    assert format_number(4210.5) == "4,210"
    assert format_number(2.3) == "2.3"
    assert format_number(2.3, strip=False) == "2.30"
    assert format_number(0.00232) == "0.00232"
    assert format_number(999.96) == "1,000"
    assert format_number(0) == "0"
    assert format_number(None) == "–"
    assert format_number(math.nan) == "–"
    assert format_number(math.inf) == "∞" and format_number(-math.inf) == "−∞"


def test_fmt_scales_and_dashes():
    assert fmt(0.003, 100) == "0.3"
    assert fmt("12") == DASH and fmt(True) == DASH
    assert fmt(2.3, strip=False) == "2.30"


def test_fmt_pct_keeps_small_losses_visible():
    assert fmt_pct(0.003) == "0.3"
    assert fmt_pct(0.0) == "0.0"
    assert fmt_pct(0.00023) == "0.023"
    assert fmt_pct(None) == DASH


def test_is_number_and_finite():
    assert is_number(1) and is_number(math.inf) and not is_number(math.nan) and not is_number(False)
    assert finite(math.inf) is None and finite(2) == 2.0 and finite(None) is None
