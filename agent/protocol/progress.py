"""Live progress of a running job: the phase, the window among the job's windows, and an ETA.

Carried in the ``detail`` of a ``running`` :class:`~agent.protocol.messages.JobState`, as one line a
person can read ("measuring · window 2 of 4 at batch 8 · eta 6 s"), so that no field is added to a
signed message: a host of the same ``PROTOCOL_VERSION`` that does not know the format shows the line
as it is, and this host parses it back with :func:`parse_progress`. Both ends import this module, so
the format cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: The phases of one window, in the order they run.
PHASES = ("warm-up", "measuring", "accuracy", "layer profile")
#: At most this many progress messages a second per job (the agent keeps the latest in between).
MAX_PER_S = 2.0

_PATTERN = re.compile(
    r"^(?P<phase>[a-z -]+) · window (?P<k>\d+) of (?P<n>\d+) at batch (?P<batch>\d+)"
    r"(?: with (?P<flight>\d+) in flight)?(?: · eta (?P<eta>\d+) s)?$"
)


@dataclass(frozen=True)
class Progress:
    """Where a job is: ``phase`` (:data:`PHASES`) of window ``k`` of ``n`` (1-based) at ``batch_size``
    with ``concurrency`` queries in flight; ``eta_s``: the agent's estimate of the seconds the job's
    windows still need (planned windows x their warm-up and duration), None when unknown."""

    phase: str
    k: int
    n: int
    batch_size: int
    concurrency: int = 1
    eta_s: Optional[float] = None

    def detail(self) -> str:
        text = "%s · window %d of %d at batch %d" % (self.phase, self.k, self.n, self.batch_size)
        if self.concurrency > 1:
            text += " with %d in flight" % self.concurrency
        if self.eta_s is not None:
            text += " · eta %d s" % max(0, round(self.eta_s))
        return text


def parse_progress(detail: str) -> Optional[Progress]:
    """The :class:`Progress` a ``running`` state's detail carries; None for any other detail."""
    match = _PATTERN.match(detail.strip())
    if match is None or match.group("phase") not in PHASES:
        return None
    flight, eta = match.group("flight"), match.group("eta")
    return Progress(
        phase=match.group("phase"),
        k=int(match.group("k")),
        n=int(match.group("n")),
        batch_size=int(match.group("batch")),
        concurrency=int(flight) if flight else 1,
        eta_s=float(eta) if eta is not None else None,
    )
