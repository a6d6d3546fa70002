"""The monitor-mode summary on the wire: ``edgeprof-agent monitor --broker URL`` publishes it, signed by
the device, retained on ``edgeprof/v1/devices/<id>/monitor``; ``edgeprof monitor-summary`` fetches it.

``summary`` is the JSON object :func:`agent.monitor.Monitor.run` makes, unchanged, so that the file the
host writes from it is the file ``monitor --out FILE`` writes. The fields the host's cost model reads
(``utilisation``, ``window_s``) and the ones that say what was measured (``samples``, ``source``) are
checked when the message is built, so a decoded message is one ``--monitor-summary`` can use.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict

from agent.errors import ProtocolError
from agent.protocol.topics import PROTOCOL_VERSION, check_device_id


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_monitor_summary(summary: Any) -> None:
    """ProtocolError naming the field unless ``summary`` is a monitor summary the cost model can use."""
    if not isinstance(summary, dict):
        raise ProtocolError("the monitor summary must be a JSON object, not %s" % type(summary).__name__)
    value = summary.get("utilisation")
    if not _number(value) or not 0 <= value <= 1:
        raise ProtocolError("the monitor summary's 'utilisation' must be the busy fraction in 0..1, not %r" % (value,))
    window = summary.get("window_s")
    if not _number(window) or window <= 0:
        raise ProtocolError("the monitor summary's 'window_s' must be a number of seconds > 0, not %r" % (window,))
    samples = summary.get("samples")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ProtocolError("the monitor summary's 'samples' must be an integer >= 1, not %r" % (samples,))
    if not isinstance(summary.get("source"), str):
        raise ProtocolError("the monitor summary's 'source' must be a string, not %r" % (summary.get("source"),))


@dataclasses.dataclass(frozen=True)
class MonitorSummary:
    """One device's monitor-mode summary. Signed by the device; retained, so the host can fetch it later."""

    device_id: str
    ts: float  # unix seconds on the device, when the summary was made
    summary: Dict[str, Any]  # what `monitor --out FILE` writes (agent.monitor)
    agent_version: str = ""
    signature: str = ""  # the device's Ed25519 signature (agent.signing)
    schema_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if not math.isfinite(self.ts):
            raise ProtocolError("ts must be a finite number")
        check_monitor_summary(self.summary)
