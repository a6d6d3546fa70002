"""Errors of the host side.

    PipelineError               base: a message meant for the user, naming the problem and the fix
    ├── InputError              the user's model or data is unusable (not ONNX, wrong shape or dtype)
    ├── PassError               one optimisation pass failed for this candidate; the sweep goes on
    ├── BrokerError             the MQTT broker cannot be reached or refuses us
    └── DispatchError           jobs could not be delivered, or no result came back in time

``TypeError`` and ``ValueError`` are programming errors and propagate (as in Olive's engine).
"""


class PipelineError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class InputError(PipelineError):
    """The user's model or data cannot be used as given."""


class PassError(PipelineError):
    """An optimisation pass failed for one candidate; the sweep records it and continues."""


class BrokerError(PipelineError):
    """The MQTT broker cannot be reached, or refused the connection."""


class DispatchError(PipelineError):
    """Jobs could not be delivered to the devices, or results did not come back in time."""
