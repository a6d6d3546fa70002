"""What the agent's service hands its benchmark child: ``spec.json`` in the job's work folder.

The service has verified the job and every artifact before it writes this; the worker trusts the
local paths it names and nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from agent.protocol.messages import BenchmarkJob
from agent.protocol.topics import PROTOCOL_VERSION


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    job: BenchmarkJob
    artifact_kind: str  # one of agent.protocol.artifacts.ARTIFACT_KINDS
    #: role -> local path of the verified member file ("model", "weights", ...)
    artifact_files: Dict[str, str]
    artifact_settings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    eval_path: Optional[str] = None
    power: Optional[str] = None  # the power source the agent was told to use
    target: str = ""  # the device's matched profile id in targets/ ("" if unknown): the estimate's basis
    #: unix time by which the worker must have written its result (the service kills it then); 0 = unknown
    deadline_at: float = 0.0
    schema_version: int = PROTOCOL_VERSION
