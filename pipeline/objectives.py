"""The objectives a ranking can use: one entry per figure, read straight off a :class:`Record`.

Each entry says which way is better, what the figure is called and in what unit, and how to read it.
The ranking, the recommendation's English and the reports take everything they say about an
objective from here, so a new objective (inferences per dollar, say) is one :class:`Record` field
and one entry in :data:`OBJECTIVES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.numbers import is_number
from pipeline.record import Record

SENSES = ("max", "min")
#: What a figure rests on: a measurement (or sourced and user figures), an estimate somewhere in its
#: inputs (CPU-load power, a default electricity price), or a projection onto a device not measured.
FIGURE_KINDS = ("measured", "estimated", "projected")


def _measured(record: Record) -> str:
    return "measured"


@dataclass(frozen=True)
class Objective:
    """One figure to rank on.

    ``phrase`` is the objective in words, as a ranking sentence uses it ("most inferences per
    joule"); ``unit`` is the unit of ``value``'s result. ``fallback`` stands in when some valid
    records lack this figure (inferences per joule falls back to throughput when power was not
    read everywhere); ``missing`` names what such a record lacks. ``from_power`` marks figures
    derived from the power reading, whose provenance the recommendation states. ``kind`` says what
    the record's figure rests on (:data:`FIGURE_KINDS`).
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
    kind: Callable[[Record], str] = _measured
    figure: str = ""  # the underlying figure, when two objectives read the same one; the name otherwise
    #: the record's interval for this figure over its repeated windows (``--repeats``), None without one
    span: Callable[[Record], tuple[float, float] | None] = lambda r: None

    def __post_init__(self) -> None:
        if not self.figure:
            object.__setattr__(self, "figure", self.name)
        if self.sense not in SENSES:
            raise ValueError(f"objective {self.name!r}: sense must be 'max' or 'min', not {self.sense!r}")

    def of(self, record: Record) -> float | None:
        """The record's figure as a float; None when it has none (missing or NaN)."""
        value: Any = self.value(record)
        return float(value) if is_number(value) else None

    def interval(self, record: Record) -> tuple[float, float] | None:
        """The interval for the median of the record's figure over its repeated windows (low, high);
        None with one window, or when the record has no figure. Two records whose intervals overlap
        are tied on this objective (pipeline/repeats.py)."""
        if self.of(record) is None:
            return None
        span = self.span(record)
        return (float(span[0]), float(span[1])) if span is not None else None

    def lacking(self, article: bool = False) -> str:
        """What a record without this figure lacks ("energy figure"), with "a"/"an" if asked."""
        noun = self.missing or f"figure for {self.label}"
        if not article:
            return noun
        return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun

    def kind_of(self, record: Record) -> str | None:
        """What the record's figure rests on (:data:`FIGURE_KINDS`); None when it has no figure."""
        return self.kind(record) if self.of(record) is not None else None

    def measured_only(self) -> Objective:
        """This objective with estimated and projected figures treated as missing (its fallback too),
        for a ranking that excludes estimates (``--exclude-estimates``)."""
        value, kind = self.value, self.kind

        def measured_value(record: Record) -> Any:
            return value(record) if kind(record) == "measured" else None

        fallback = self.fallback.measured_only() if self.fallback is not None else None
        missing = f"{self.lacking()} that is not an estimate (estimates excluded)"
        return dataclasses.replace(self, value=measured_value, fallback=fallback, missing=missing)


def spread_of(name: str) -> Callable[[Record], tuple[float, float] | None]:
    """Reads the interval of figure ``name`` from a record's spread (pipeline/repeats.py)."""

    def span(record: Record) -> tuple[float, float] | None:
        figure = record.spread.figures.get(name) if record.spread is not None else None
        return figure.interval if figure is not None else None

    return span


def _cost_span(record: Record) -> tuple[float, float] | None:
    """Cost per million over the repeats, from both figures it rests on: cost per inference goes as
    1/throughput, and its energy share as the power drawn. The record's cost was computed at the
    representative window's throughput and power; the interval puts the throughput interval's ends
    and the power interval's ends (the same power field the cost used, gross or above idle) in their
    place: the dearest case is the lowest throughput at the highest power, the cheapest the reverse.
    Without a power interval (one power reading, a profile's figure) the power is held as it was."""
    tput_span = spread_of("throughput_ips")(record)
    cost = record.cost
    if tput_span is None or cost is None or tput_span[0] <= 0 or record.throughput_ips <= 0:
        return None
    energy_low = energy_high = cost.energy_usd_per_hour_full_load
    watts = _power_shift(record)
    active = next((f.value for f in cost.inputs if f.name == "active_power"), None)
    if watts is not None and active:
        energy_low = cost.energy_usd_per_hour_full_load * max(0.0, active + watts[0]) / active
        energy_high = cost.energy_usd_per_hour_full_load * (active + watts[1]) / active
    per_million = 1e6 / 3600.0
    return (
        (cost.hardware_usd_per_hour + energy_low) / tput_span[1] * per_million,
        (cost.hardware_usd_per_hour + energy_high) / tput_span[0] * per_million,
    )


def _power_shift(record: Record) -> tuple[float, float] | None:
    """How far (W) the power interval's ends lie from the representative window's power, in the field
    the cost read (gross ``avg_w``, else ``above_idle_w``); None without a power interval."""
    power = record.power
    if power is None:
        return None
    for name, value in (("power_avg_w", power.avg_w), ("power_above_idle_w", power.above_idle_w)):
        if value is not None:
            span = spread_of(name)(record)
            return (span[0] - value, span[1] - value) if span is not None else None
    return None


THROUGHPUT = Objective(
    name="throughput_ips",
    sense="max",
    label="throughput",
    unit="inf/s",
    phrase="most throughput",
    value=lambda r: r.throughput_ips,
    figure="throughput",
    span=spread_of("throughput_ips"),
)
#: Above idle: the window's energy less the idle power before the job times the window. What a CPU-load
#: estimate without an idle figure knows; it stands in for the gross figure when that is unknown.
INFERENCES_PER_JOULE_ABOVE_IDLE = Objective(
    name="inferences_per_joule_above_idle",
    sense="max",
    label="inferences per joule above idle",
    unit="inf/J above idle",
    phrase="most inferences per joule above idle",
    value=lambda r: r.inferences_per_joule_above_idle,
    fallback=THROUGHPUT,
    missing="energy figure (no power reading)",
    from_power=True,
    kind=lambda r: "estimated" if r.power_estimated else "measured",
    span=spread_of("inferences_per_joule_above_idle"),
)
INFERENCES_PER_JOULE = Objective(
    name="inferences_per_joule",
    sense="max",
    label="inferences per joule",
    unit="inf/J",
    phrase="most inferences per joule",
    value=lambda r: r.inferences_per_joule,
    fallback=INFERENCES_PER_JOULE_ABOVE_IDLE,
    missing="energy figure (no power reading)",
    from_power=True,
    kind=lambda r: "estimated" if r.power_estimated else "measured",
    span=spread_of("inferences_per_joule"),
)
#: Throughput at the p99 target: the SLA constraint leaves only the batch sizes whose p99 meets it,
#: so among ranked records this is the throughput those batch sizes reach (all of them without an SLA).
THROUGHPUT_AT_SLA = Objective(
    name="throughput_at_sla_ips",
    sense="max",
    label="throughput at the p99 target",
    unit="inf/s",
    phrase="most throughput at the p99 target",
    value=lambda r: r.throughput_ips,
    figure="throughput",
    span=spread_of("throughput_ips"),
)


#: Cost per million inferences at full load: what the build costs per inference on its device when the
#: device is kept busy. At a light load every build on one device costs the same (the device is paid for
#: by the hour), so the load's own cost separates nothing: the planner sizes that.
COST_PER_MILLION = Objective(
    name="cost_usd_per_million",
    sense="min",
    label="cost per million inferences",
    unit="USD per million inferences at full load",
    phrase="lowest cost per million inferences at full load",
    value=lambda r: r.cost.usd_per_million_full_load if r.cost is not None else None,
    missing="cost figure (no price or no power figure)",
    kind=lambda r: "estimated" if r.cost is not None and r.cost.estimated else "measured",
    span=_cost_span,
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
    span=spread_of("latency_p99_ms"),
)
LATENCY_P50 = Objective(
    name="latency_p50_ms",
    sense="min",
    label="p50 latency",
    unit="ms",
    phrase="lowest p50 latency",
    value=lambda r: r.latency_ms.p50,
    span=spread_of("latency_p50_ms"),
)

#: Every objective a ranking may name, by name (the names ``results.json`` lists).
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        INFERENCES_PER_JOULE,
        INFERENCES_PER_JOULE_ABOVE_IDLE,
        THROUGHPUT_AT_SLA,
        ACCURACY_LOSS,
        COST_PER_MILLION,
        LATENCY_P99,
        LATENCY_P50,
        THROUGHPUT,
    )
}
#: Short names ``--objectives`` accepts besides the full ones.
ALIASES = {
    "ipj": "inferences_per_joule",
    "ipj-above-idle": "inferences_per_joule_above_idle",
    "throughput-at-sla": "throughput_at_sla_ips",
    "loss": "accuracy_loss_abs",
    "cost": "cost_usd_per_million",
    "p99": "latency_p99_ms",
    "p50": "latency_p50_ms",
    "throughput": "throughput_ips",
}

#: What a run is ranked on unless told otherwise: the article's three metrics (performance per watt,
#: throughput at the latency target, cost per inference) and accuracy.
DEFAULT_OBJECTIVES: tuple[Objective, ...] = (INFERENCES_PER_JOULE, THROUGHPUT_AT_SLA, ACCURACY_LOSS, COST_PER_MILLION)


def parse_objectives(names: Sequence[str]) -> tuple[Objective, ...]:
    """The objectives named (full names or :data:`ALIASES`), in order; ValueError lists the known."""
    out: list[Objective] = []
    for raw in names:
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in OBJECTIVES:
            known = ", ".join(f"{n} ({a})" for a, n in ALIASES.items())
            raise ValueError(f"--objectives: unknown objective {raw!r}; known: {known}")
        if OBJECTIVES[name] not in out:
            out.append(OBJECTIVES[name])
    if not out:
        raise ValueError("--objectives: name at least one objective, for example ipj,loss,cost")
    return tuple(out)
