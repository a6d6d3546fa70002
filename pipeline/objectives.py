"""The objectives a ranking can use: one entry per figure, read straight off a :class:`Record`.

Each entry says which way is better, what the figure is called and in what unit, and how to read it.
The ranking, the recommendation's English and the reports take everything they say about an
objective from here, so a new objective (inferences per dollar, say) is one :class:`Record` field
and one entry in :data:`OBJECTIVES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.numbers import is_number
from pipeline.record import Record

SENSES = ("max", "min")


@dataclass(frozen=True)
class Objective:
    """One figure to rank on.

    ``phrase`` is the objective in words, as a ranking sentence uses it ("most inferences per
    joule"); ``unit`` is the unit of ``value``'s result. ``fallback`` stands in when some valid
    records lack this figure (inferences per joule falls back to throughput when power was not
    read everywhere); ``missing`` names what such a record lacks. ``from_power`` marks figures
    derived from the power reading, whose provenance the recommendation states.
    """

    name: str
    sense: str  # "max" or "min"
    label: str
    unit: str
    phrase: str
    value: Callable[[Record], float | None]
    fallback: Objective | None = None
    missing: str = ""
    from_power: bool = False

    def __post_init__(self) -> None:
        if self.sense not in SENSES:
            raise ValueError(f"objective {self.name!r}: sense must be 'max' or 'min', not {self.sense!r}")

    def of(self, record: Record) -> float | None:
        """The record's figure as a float; None when it has none (missing or NaN)."""
        value: Any = self.value(record)
        return float(value) if is_number(value) else None

    def lacking(self, article: bool = False) -> str:
        """What a record without this figure lacks ("energy figure"), with "a"/"an" if asked."""
        noun = self.missing or f"figure for {self.label}"
        if not article:
            return noun
        return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


THROUGHPUT = Objective(
    name="throughput_ips",
    sense="max",
    label="throughput",
    unit="inf/s",
    phrase="most throughput",
    value=lambda r: r.throughput_ips,
)
INFERENCES_PER_JOULE = Objective(
    name="inferences_per_joule",
    sense="max",
    label="inferences per joule",
    unit="inf/J",
    phrase="most inferences per joule",
    value=lambda r: r.inferences_per_joule,
    fallback=THROUGHPUT,
    missing="energy figure (no power reading)",
    from_power=True,
)
ACCURACY_LOSS = Objective(
    name="accuracy_loss_abs",
    sense="min",
    label="accuracy loss",
    unit="fraction, absolute (0.01 = 1 pp)",
    phrase="least accuracy loss",
    value=lambda r: r.accuracy_loss,
)
LATENCY_P99 = Objective(
    name="latency_p99_ms",
    sense="min",
    label="p99 latency",
    unit="ms",
    phrase="lowest p99 latency",
    value=lambda r: r.latency_ms.p99,
)
LATENCY_P50 = Objective(
    name="latency_p50_ms",
    sense="min",
    label="p50 latency",
    unit="ms",
    phrase="lowest p50 latency",
    value=lambda r: r.latency_ms.p50,
)

#: Every objective a ranking may name, by name (the names ``results.json`` lists).
OBJECTIVES: dict[str, Objective] = {
    o.name: o for o in (INFERENCES_PER_JOULE, ACCURACY_LOSS, LATENCY_P99, LATENCY_P50, THROUGHPUT)
}

#: What a run is ranked on unless told otherwise: efficiency, accuracy and tail latency.
DEFAULT_OBJECTIVES: tuple[Objective, ...] = (INFERENCES_PER_JOULE, ACCURACY_LOSS, LATENCY_P99)
