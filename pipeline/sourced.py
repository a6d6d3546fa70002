"""A figure a derived figure was computed from, with its unit and where it came from.

Cost per inference, the roofline and the planner's projections are computed from inputs of mixed
standing: a user's flag, a profile's datasheet figure or estimate, the agent's measurement, a default
with its basis. Each input travels as a :class:`SourcedFigure`, so that every report can show, next to
the derived figure, what it rests on, and so that the ranking can tell an estimate from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.numbers import format_number

if TYPE_CHECKING:
    from targets import Figure, TargetProfile


@dataclass(frozen=True)
class SourcedFigure:
    """One input figure: ``provenance`` says where it came from ("--pue", "nvidia-t4 price.purchase:
    estimate: …", "measured: ina3221:VDD_IN", "default: …"); ``estimated`` is True unless it is a
    measurement, a user's figure or a datasheet figure with a source."""

    name: str  # e.g. "electricity_price"
    value: float
    unit: str
    provenance: str
    estimated: bool

    def describe(self) -> str:
        """``electricity price 0.15 USD/kWh (default: …)``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name.replace('_', ' ')} {format_number(self.value, sig=4)}{unit} ({self.provenance})"


def from_profile(name: str, profile: TargetProfile, path: str, figure: Figure, dense: bool = False) -> SourcedFigure:
    """A profile figure as an input; ``dense`` halves a peak quoted with 2:4 sparsity, and says so."""
    value = figure.dense_value if dense else figure.value
    provenance = f"{profile.id} {path}: {figure.provenance}"
    if dense and figure.sparse:
        provenance += f"; quoted with 2:4 sparsity ({format_number(figure.value)} {figure.unit}), halved to dense"
    return SourcedFigure(name, value, figure.unit, provenance, figure.estimate)


def user_flag(name: str, value: float, unit: str, flag: str) -> SourcedFigure:
    return SourcedFigure(name, value, unit, flag, False)


def default(name: str, value: float, unit: str, basis: str) -> SourcedFigure:
    return SourcedFigure(name, value, unit, "default: " + basis, True)
