"""Counting what the agent refuses, and how often it may say so.

Every refused message is counted by kind (bad signature, expired, replay, storage...), and the
counts go out in the device's status; a refusal is also reported to the host, at most a set number
a minute, so a flood of forged jobs cannot become a flood of answers.
"""

from __future__ import annotations

import json
import time
from typing import Dict, List

from agent.errors import ProtocolError
from agent.protocol import check_id

_KINDS = ("bad signature", "not signed", "expired", "replay", "future", "addressed to", "schema_version")


class RefusalCounter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.counts: Dict[str, int] = {}
        self._times: List[float] = []

    def count(self, kind: str) -> bool:
        """Count one refusal of ``kind``; True if it may be reported now (under the per-minute limit)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < 60.0]
        if len(self._times) >= self.per_minute:
            return False
        self._times.append(now)
        return True


def refusal_kind(reason: str) -> str:
    """A short key for the reason of a refusal: ``bad_signature``, ``expired``, ... or ``malformed``."""
    for kind in _KINDS:
        if kind in reason:
            return kind.replace(" ", "_")
    return "malformed"


def job_id_of(payload: bytes) -> str:
    """The job id a refused payload claims, if it has a usable one (for the host to match), else ""."""
    try:
        value = json.loads(bytes(payload).decode("utf-8")).get("job_id", "")
        return check_id(value, "job id")
    except (ProtocolError, ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return ""
