"""Cost per inference: hardware (amortised purchase or hourly rental), power at the load, electricity
and cooling, over the inferences the device really serves.

For one device at utilisation ``u`` (the fraction of the time it is busy running inference at its
measured throughput ``T``, in inferences per second):

- hardware, USD/h: ``purchase / (amortisation months x 730 h)``, or the rental price per hour. It is
  paid every hour, busy or not: a device idle 80% of the time still costs its amortisation.
- average power, W: ``u x active + (1 - u) x idle``; the idle share is drawn while waiting.
- energy, USD/h: ``average power / 1000 x electricity price x PUE`` (PUE: facility power per watt
  at the device, cooling and distribution included). A rental price already includes power and
  cooling, so a rented device has no energy term.
- cost per million inferences: ``(hardware + energy) / (u x T x 3600) x 1e6``.

At full load ``u = 1``. Every input is a :class:`SourcedFigure` that says where it came from: a user's
flag, a profile figure (with that figure's source or estimate basis), the agent's measurement, or a
default with its basis. Pure functions over records and profiles; nothing here does I/O except
:func:`load_utilisation_summary`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.numbers import format_number, is_number
from pipeline.sourced import SourcedFigure, default, from_profile, user_flag

if TYPE_CHECKING:
    from pipeline.record import Record
    from targets import TargetProfile

HOURS_PER_MONTH = 730.0  # 8,760 h / 12
PRICINGS = ("auto", "purchase", "rental")

#: Defaults used when neither the user nor the profile gives a figure: (value, unit, basis).
DEFAULT_ELECTRICITY = (
    0.15,
    "USD/kWh",
    "assumed round figure, not a tariff (commercial electricity is mostly 0.10-0.30 USD/kWh); "
    "set yours with --electricity-price",
)
DEFAULT_AMORTISATION = (
    36.0,
    "months",
    "a common 3-year straight-line write-off for IT hardware; set --amortisation-months",
)
DEFAULT_PUE_DATACENTRE = (
    1.5,
    "",
    "assumed data-centre overhead for cooling and power distribution (industry surveys report averages "
    "near 1.5); set --pue",
)
DEFAULT_PUE_EDGE = (
    1.0,
    "",
    "an edge device has no cooling plant: the power at the device is the power paid for; set --pue",
)
#: Marks a power figure that excludes idle power (agent/power/estimate.py says so in ``method``).
ABOVE_IDLE_MARK = "above idle"


class CostUnavailable(ValueError):
    """A cost cannot be worked out: the message names the missing input and how to give it."""


@dataclass(frozen=True)
class CostOptions:
    """What the user set for the cost model; None means "not set: take the profile's or the default"."""

    electricity_usd_per_kwh: float | None = None
    pue: float | None = None
    amortisation_months: float | None = None
    purchase_usd: float | None = None
    rental_usd_per_h: float | None = None
    pricing: str = "auto"  # auto: rental for a data-centre GPU with a rental price, else purchase
    utilisation: float | None = None  # the fraction of time busy at the user's load
    utilisation_origin: str = "--utilisation"
    #: the user's load in requests/s (``--rate``): each build's utilisation is then rate / throughput
    #: (at most 1), unless ``utilisation`` is given
    load_rate_per_s: float | None = None
    load_rate_origin: str = "--rate"

    def __post_init__(self) -> None:
        checks = (
            ("--electricity-price", self.electricity_usd_per_kwh, 0.0, False),
            ("--pue", self.pue, 1.0, True),
            ("--amortisation-months", self.amortisation_months, 0.0, False),
            ("--purchase-price", self.purchase_usd, 0.0, True),
            ("--rental-price", self.rental_usd_per_h, 0.0, True),
        )
        for flag, value, low, inclusive in checks:
            if value is None:
                continue
            ok = is_number(value) and math.isfinite(value) and (value >= low if inclusive else value > low)
            if not ok:
                bound = f">= {format_number(low)}" if inclusive else f"> {format_number(low)}"
                raise ValueError(f"{flag} must be a finite number {bound}, not {value!r}")
        if self.pricing not in PRICINGS:
            raise ValueError(f"--pricing must be one of {', '.join(PRICINGS)}, not {self.pricing!r}")
        u = self.utilisation
        if u is not None and not (is_number(u) and 0 < u <= 1):
            raise ValueError(f"{self.utilisation_origin}: utilisation must be a fraction in (0, 1], not {u!r}")


@dataclass(frozen=True)
class DeviceEconomics:
    """What one device costs per hour at a given utilisation, and the inputs that says so."""

    target: str
    pricing: str  # "purchase" or "rental"
    price: SourcedFigure  # USD (purchase) or USD/h (rental)
    amortisation: SourcedFigure | None  # months; None for a rental
    electricity: SourcedFigure | None  # USD/kWh; None for a rental (included in its price)
    pue: SourcedFigure | None
    active_w: SourcedFigure
    idle_w: SourcedFigure

    @property
    def hardware_usd_per_h(self) -> float:
        if self.amortisation is None:
            return self.price.value
        return self.price.value / (self.amortisation.value * HOURS_PER_MONTH)

    def average_w(self, utilisation: float) -> float:
        return utilisation * self.active_w.value + (1.0 - utilisation) * self.idle_w.value

    def energy_usd_per_h(self, utilisation: float) -> float:
        if self.electricity is None or self.pue is None:
            return 0.0
        return self.average_w(utilisation) / 1000.0 * self.electricity.value * self.pue.value

    def usd_per_h(self, utilisation: float) -> float:
        return self.hardware_usd_per_h + self.energy_usd_per_h(utilisation)

    def usd_per_million(self, throughput_ips: float, utilisation: float) -> float:
        """USD per million inferences for a device serving ``utilisation x throughput_ips``."""
        served_per_h = utilisation * throughput_ips * 3600.0
        return self.usd_per_h(utilisation) / served_per_h * 1e6 if served_per_h > 0 else math.inf

    @property
    def inputs(self) -> tuple[SourcedFigure, ...]:
        found = (self.price, self.amortisation, self.electricity, self.pue, self.active_w, self.idle_w)
        return tuple(i for i in found if i is not None)

    @property
    def estimated(self) -> bool:
        return any(i.estimated for i in self.inputs)


@dataclass(frozen=True, kw_only=True)
class Cost:
    """Cost of one record's build on its device: per million inferences at full load and at the
    user's load (``utilisation``), in USD, with every input and its provenance."""

    pricing: str  # "purchase" (amortised) or "rental"
    usd_per_million_full_load: float
    usd_per_hour_full_load: float
    hardware_usd_per_hour: float
    energy_usd_per_hour_full_load: float
    utilisation: float | None  # None: no load given (--utilisation, a monitor summary or a rate)
    utilisation_origin: str | None
    usd_per_million_at_load: float | None
    usd_per_hour_at_load: float | None
    average_w_at_load: float | None
    estimated: bool  # some input is an estimate or a default
    inputs: tuple[SourcedFigure, ...]


def _default(name: str, spec: tuple[float, str, str]) -> SourcedFigure:
    return default(name, *spec)


def _price(profile: TargetProfile | None, options: CostOptions) -> tuple[str, SourcedFigure]:
    """The pricing and its price: the user's, else the profile's; auto rents a data-centre GPU."""
    target = profile.id if profile is not None else "this device"
    purchase = rental = None
    if options.purchase_usd is not None:
        purchase = user_flag("purchase_price", options.purchase_usd, "USD", "--purchase-price")
    elif profile is not None and profile.price.purchase is not None:
        purchase = from_profile("purchase_price", profile, "price.purchase", profile.price.purchase)
    if options.rental_usd_per_h is not None:
        rental = user_flag("rental_price", options.rental_usd_per_h, "USD/h", "--rental-price")
    elif profile is not None and profile.price.rental_hourly is not None:
        rental = from_profile("rental_price", profile, "price.rental_hourly", profile.price.rental_hourly)
    pricing = options.pricing
    if pricing == "auto":
        datacentre = profile is not None and profile.kind == "datacenter-gpu"
        if options.rental_usd_per_h is not None or (options.purchase_usd is None and datacentre and rental):
            pricing = "rental"
        else:
            pricing = "purchase" if purchase is not None or rental is None else "rental"
    chosen = rental if pricing == "rental" else purchase
    if chosen is None:
        flag = "--rental-price USD_PER_HOUR" if pricing == "rental" else "--purchase-price USD"
        field = "rental_hourly" if pricing == "rental" else "purchase"
        raise CostUnavailable(
            f"no {pricing} price for {target}: pass {flag}, or add price.{field} to the target's profile "
            "(edgeprof targets show ID lists its figures)"
        )
    return pricing, chosen


def device_economics(
    profile: TargetProfile | None, options: CostOptions, active_w: SourcedFigure, idle_w: SourcedFigure
) -> DeviceEconomics:
    """The economics of one device of ``profile`` drawing ``active_w`` busy and ``idle_w`` idle.
    CostUnavailable when no price is known."""
    pricing, price = _price(profile, options)
    amortisation = electricity = pue = None
    if pricing == "purchase":
        months = options.amortisation_months
        amortisation = (
            user_flag("amortisation", months, "months", "--amortisation-months")
            if months is not None
            else _default("amortisation", DEFAULT_AMORTISATION)
        )
        kwh = options.electricity_usd_per_kwh
        electricity = (
            user_flag("electricity_price", kwh, "USD/kWh", "--electricity-price")
            if kwh is not None
            else _default("electricity_price", DEFAULT_ELECTRICITY)
        )
        if options.pue is not None:
            pue = user_flag("pue", options.pue, "", "--pue")
        else:
            datacentre = profile is not None and profile.kind == "datacenter-gpu"
            pue = _default("pue", DEFAULT_PUE_DATACENTRE if datacentre else DEFAULT_PUE_EDGE)
    return DeviceEconomics(
        target=profile.id if profile is not None else "",
        pricing=pricing,
        price=price,
        amortisation=amortisation,
        electricity=electricity,
        pue=pue,
        active_w=active_w,
        idle_w=idle_w,
    )


def profile_idle_w(profile: TargetProfile | None) -> SourcedFigure:
    """The profile's idle power, else 0 W marked as an assumption."""
    if profile is not None and profile.idle_power is not None:
        return from_profile("idle_power", profile, "idle_power", profile.idle_power)
    where = f"profile {profile.id} has none" if profile is not None else "no profile"
    return SourcedFigure("idle_power", 0.0, "W", f"assumed 0 W: no idle figure measured and {where}", True)


def profile_active_w(profile: TargetProfile | None, mode: str | None = None) -> SourcedFigure | None:
    """The power limit of the profile's (default) mode as the full-load draw: an upper bound."""
    if profile is None:
        return None
    limit = profile.mode(mode).limit
    if limit is None:
        return None
    path = f"power_modes[{profile.mode(mode).name}].limit"
    return SourcedFigure(
        "active_power",
        limit.value,
        limit.unit,
        f"{profile.id} {path} as full-load draw (upper bound): {limit.provenance}",
        True,
    )


def record_power(record: Record, profile: TargetProfile | None) -> tuple[SourcedFigure, SourcedFigure] | None:
    """(active, idle) power of the record's device: measured where the agent read it, else the profile's."""
    power = record.power
    idle = profile_idle_w(profile)
    if power is not None and power.idle_w is not None and is_number(power.idle_w):
        idle = SourcedFigure(
            "idle_power", float(power.idle_w), "W", f"measured before the job: {power.source}", power.estimated
        )
    kind = "estimate" if power is not None and power.estimated else "measured"
    if power is not None and not is_number(power.avg_w) and is_number(power.above_idle_w) and power.idle_w is None:
        if profile is not None and profile.idle_power is not None:  # the gross figure the agent could not know
            provenance = (
                f"{kind}: {power.source}, average over the window above idle, plus the idle "
                f"{format_number(idle.value)} W ({idle.provenance})"
            )
            return SourcedFigure("active_power", float(power.above_idle_w) + idle.value, "W", provenance, True), idle
    if power is None or not is_number(power.avg_w):
        active = profile_active_w(profile)
        return None if active is None else (active, idle)
    active_value, provenance = float(power.avg_w), f"{kind}: {power.source}, average over the window"
    if ABOVE_IDLE_MARK in (power.method or "") and power.idle_w is None:
        active_value += idle.value
        provenance += f", above idle, plus the idle {format_number(idle.value)} W"
    return SourcedFigure("active_power", active_value, "W", provenance, power.estimated), idle


def record_cost(record: Record, profile: TargetProfile | None, options: CostOptions) -> Cost:
    """The cost of ``record``'s build on its device; CostUnavailable names what is missing."""
    power = record_power(record, profile)
    if power is None:
        raise CostUnavailable(
            "no power figure: the agent read none and the profile has no power limit to stand in for it"
        )
    econ = device_economics(profile, options, *power)
    tput = record.throughput_ips
    if not (is_number(tput) and tput > 0):
        raise CostUnavailable("no throughput figure to divide the cost by")
    u, origin = options.utilisation, options.utilisation_origin
    if u is None and options.load_rate_per_s is not None:
        u = min(1.0, options.load_rate_per_s / tput)
        origin = f"{options.load_rate_origin} over this build's {format_number(tput)} inf/s" + (
            " (one device is saturated: more are needed, see the planner)" if u >= 1.0 else ""
        )
    inputs = econ.inputs
    if u is not None:
        inputs += (user_flag("utilisation", u, "", origin),)
    return Cost(
        pricing=econ.pricing,
        usd_per_million_full_load=econ.usd_per_million(tput, 1.0),
        usd_per_hour_full_load=econ.usd_per_h(1.0),
        hardware_usd_per_hour=econ.hardware_usd_per_h,
        energy_usd_per_hour_full_load=econ.energy_usd_per_h(1.0),
        utilisation=u,
        utilisation_origin=origin if u is not None else None,
        usd_per_million_at_load=econ.usd_per_million(tput, u) if u is not None else None,
        usd_per_hour_at_load=econ.usd_per_h(u) if u is not None else None,
        average_w_at_load=econ.average_w(u) if u is not None else None,
        estimated=econ.estimated,
        inputs=inputs,
    )


def load_utilisation_summary(path: Path) -> tuple[float, str]:
    """(utilisation, origin) from a monitor-mode summary: a JSON object with ``utilisation`` (the
    fraction of time busy, in (0, 1]) and optionally ``window_s`` and ``source``."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: cannot read the monitor summary ({exc}): give a JSON file like "
            '{"utilisation": 0.2, "window_s": 86400}'
        ) from None
    return utilisation_from_summary(data, path)


def utilisation_from_summary(data: Any, path: Path | str) -> tuple[float, str]:
    """(utilisation, origin) from a monitor summary already parsed; ``path`` names it in messages."""
    value = data.get("utilisation") if isinstance(data, dict) else None
    if not (is_number(value) and 0 < value <= 1):
        raise ValueError(
            f"{path}: 'utilisation' must be the busy fraction in (0, 1], not {value!r}; "
            'example: {"utilisation": 0.2, "window_s": 86400}'
        )
    origin = f"monitor summary {path}"
    if isinstance(data.get("window_s"), int | float):
        origin += f" over {format_number(data['window_s'])} s"
    return float(value), origin
