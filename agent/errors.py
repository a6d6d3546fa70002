"""Errors the agent raises, and what each means for the caller.

    AgentError                  base: something the agent cannot do, with a message meant for a person
    ├── ProtocolError           a message is malformed, of another schema version, or forged
    ├── ArtifactError           an artifact could not be downloaded, or its sha256 does not match
    ├── RuntimeLoadError        a runtime is missing or refuses the model
    ├── InferenceError          a loaded model failed while running
    └── SensorError             a power sensor is absent or unreadable

The host (``pipeline``) imports this module and ``agent.protocol``, nothing else from the agent.
"""


class AgentError(Exception):
    """Base class: the message says what went wrong and, where possible, how to fix it."""


class ProtocolError(AgentError):
    """A message is malformed, of an unknown schema version, expired, replayed or badly signed."""


class ArtifactError(AgentError):
    """An artifact download failed, was truncated, or does not match its sha256."""


class RuntimeLoadError(AgentError):
    """A runtime is not installed on this device, or it cannot load the model."""


class InferenceError(AgentError):
    """The runtime failed while running a loaded model (wrong input shape, kernel error)."""


class SensorError(AgentError):
    """A power sensor is absent or unreadable."""
