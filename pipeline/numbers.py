"""The one family of number formatters: every figure edgeprof prints goes through these.

Ranking reasons, the recommendation's English, the terminal table, the HTML page and its charts all
show figures; one formatter keeps "430 inf/J" in a reason and in a table cell the same string. It sits
beside the ranking rather than inside ``pipeline.report`` because the ranking's reasons format
numbers too, and the ranking must not depend on the report package.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

#: What a missing figure shows as.
DASH = "–"


def is_number(value: Any) -> bool:
    """True for a real number that is not NaN (infinities count; bools do not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return not math.isnan(float(value))


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (what a chart can place)."""
    return float(value) if is_number(value) and math.isfinite(float(value)) else None


def format_number(value: Any, sig: int = 3, strip: bool = True) -> str:
    """A figure to ``sig`` significant digits in plain notation, thousands separated from 1,000 up
    (and then as an integer); trailing zeros dropped unless ``strip`` is False; "–" when missing."""
    if not is_number(value):
        return DASH
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    rounded = float(f"{value:.{sig - 1}e}")
    if abs(rounded) >= 10 ** (sig - 1) or abs(value) >= 1000:
        return f"{round(value):,}"
    digits = max(0, sig - 1 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:.{digits}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt(value: Any, scale: float = 1.0, strip: bool = True) -> str:
    """``value × scale`` to three significant digits (:func:`format_number`); "–" when missing.
    ``strip=False`` keeps trailing zeros (2.30), which lines columns up in tables."""
    if not is_number(value):
        return DASH
    return format_number(float(value) * scale, strip=strip)


def fmt_pct(value: Any, scale: float = 100.0) -> str:
    """A percentage or percentage points (``value × scale``) to one decimal, or two significant
    digits below 0.1 so that a small non-zero loss does not read as 0.0; "–" when missing. Below
    0.0001 (float rounding between two runtimes, not a loss) it is 0.0."""
    if not is_number(value):
        return DASH
    v = float(value) * scale
    if abs(v) < 1e-4:
        v = 0.0
    if v == 0 or abs(v) >= 0.1:
        return f"{v:.1f}"
    return format_number(v, sig=2)
