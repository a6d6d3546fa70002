"""The run's constraints, which come before the ranking: accuracy budget, p99 SLA, memory.

Apart from :mod:`pipeline.rank` because the planner and the recommendation check a record against
the budget without ranking anything; the ranking shows a record outside them, not ranked, with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pipeline.numbers import format_number, is_number
from pipeline.objectives import ACCURACY_LOSS, LATENCY_P99
from pipeline.record import Record

#: The accuracy budget applied when the user sets none: NNCF's default tolerance (``max_drop`` 0.01,
#: 1 percentage point absolute top-1); for an embedding measured in cosine, cosine >= 0.99. Without a
#: budget, the front's most efficient point can be unusable (design.md: a cosine of 0.96 won).
DEFAULT_ACCURACY_BUDGET = 0.01
DEFAULT_BUDGET_BASIS = "NNCF's default tolerance, 1 pp absolute"
ORIGINS = ("user", "default")


@dataclass(frozen=True)
class Constraints:
    """The run's budget. ``max_accuracy_loss`` is absolute, a fraction (0.01 = 1 percentage point; for
    a cosine-measured loss, 1 - cosine); ``accuracy_budget_origin`` says whether the user set it or
    the default applies. ``max_memory_mb`` bounds what one query needs (MB, 10^6 bytes)."""

    sla_p99_ms: float | None = None
    max_accuracy_loss: float | None = None
    accuracy_budget_origin: str = "user"
    max_memory_mb: float | None = None

    def __post_init__(self) -> None:
        sla, loss, memory = self.sla_p99_ms, self.max_accuracy_loss, self.max_memory_mb
        if sla is not None and not (is_number(sla) and 0 < sla < math.inf):
            raise ValueError(f"sla_p99_ms must be a positive number of milliseconds or None, not {sla!r}")
        if loss is not None and not (is_number(loss) and 0 <= loss < 1):
            raise ValueError(f"max_accuracy_loss must be an absolute fraction in [0, 1) or None, not {loss!r}")
        if memory is not None and not (is_number(memory) and 0 < memory < math.inf):
            raise ValueError(f"max_memory_mb must be a positive number of MB or None, not {memory!r}")
        if self.accuracy_budget_origin not in ORIGINS:
            raise ValueError(f"accuracy_budget_origin must be 'user' or 'default', not {self.accuracy_budget_origin!r}")

    def with_default_budget(self) -> Constraints:
        """These constraints, with :data:`DEFAULT_ACCURACY_BUDGET` where the user set no accuracy budget."""
        if self.max_accuracy_loss is not None:
            return self
        return dataclasses.replace(self, max_accuracy_loss=DEFAULT_ACCURACY_BUDGET, accuracy_budget_origin="default")

    @property
    def budget_is_default(self) -> bool:
        return self.max_accuracy_loss is not None and self.accuracy_budget_origin == "default"


def constraint_violations(record: Record, constraints: Constraints) -> list[str]:
    """Why the record breaks ``constraints``; [] if it doesn't.

    A record without the figure a constraint needs breaks it: compliance cannot be shown. The one
    exception is the default accuracy budget, which a record without an accuracy figure is not held to.
    """
    out = []
    sla = constraints.sla_p99_ms
    if sla is not None:
        p99 = LATENCY_P99.of(record)
        if p99 is None:
            out.append(f"no p99 latency to check against the {format_number(sla)} ms SLA")
        elif p99 > sla:
            out.append(f"p99 {format_number(p99)} ms exceeds the {format_number(sla)} ms SLA")
    max_loss = constraints.max_accuracy_loss
    default = " default" if constraints.budget_is_default else ""
    if max_loss is not None:
        loss = ACCURACY_LOSS.of(record)
        if loss is None and constraints.budget_is_default:
            pass  # a run without evaluation data is not held to a budget the user did not set
        elif loss is None:
            out.append(f"no accuracy figure to check against the {format_number(max_loss * 100)} pp loss limit")
        elif loss > max_loss and record.accuracy is not None and record.accuracy.loss_kind == "cosine":
            out.append(
                f"cosine {format_number(1 - loss, sig=4)} is below the {format_number(1 - max_loss, sig=4)} "
                f"the{default} budget allows (loss {format_number(loss, sig=2)} > {format_number(max_loss, sig=2)})"
            )
        elif loss > max_loss:
            kind = "fidelity loss" if record.loss_is_fidelity else "accuracy loss"
            out.append(
                f"{kind} {format_number(loss * 100)} pp exceeds the {format_number(max_loss * 100)} pp{default} limit"
            )
    out += _memory_violations(record, constraints)
    return out


def _memory_violations(record: Record, constraints: Constraints) -> list[str]:
    """The device's memory always bounds a build; ``max_memory_mb`` when the user set it."""
    out = []
    memory = record.memory_fit
    if memory is not None and memory.fits is False:
        out.append(
            f"needs {format_number(memory.need_bytes / 1e6)} MB per query, more than the device's "
            f"{format_number((memory.capacity_bytes or 0) / 1e6)} MB"
        )
    limit = constraints.max_memory_mb
    if limit is not None:
        need = memory.need_bytes if memory is not None else record.model_size_bytes
        if need is None:
            out.append(f"no memory figure to check against the {format_number(limit)} MB limit")
        elif need / 1e6 > limit:
            out.append(f"needs {format_number(need / 1e6)} MB per query, over the {format_number(limit)} MB limit")
    return out


def meets_sla(record: Record, constraints: Constraints) -> bool | None:
    """True/False against the SLA; None when there is no SLA or no p99 to compare."""
    p99 = LATENCY_P99.of(record)
    if constraints.sla_p99_ms is None or p99 is None:
        return None
    return p99 <= constraints.sla_p99_ms
