"""Errors the target catalogue raises.

ProfileError (ValueError)        a profile file is malformed: names the file, the field, the expected form
UnknownTargetError (KeyError)    no profile has the requested id: lists the known ids
"""

from __future__ import annotations

from typing import Any, Sequence


class ProfileError(ValueError):
    """A target profile is malformed: the message names the file, the field and the expected form."""

    def __init__(self, file: object, field: str, expected: str, got: Any = None, *, has_got: bool = True):
        self.file = str(file)
        self.field = field
        self.expected = expected
        self.got = got
        message = "%s: field '%s': expected %s" % (self.file, field, expected)
        if has_got:
            message += "; got %s" % _describe(got)
        super().__init__(message)


class UnknownTargetError(KeyError):
    """No profile has the requested id; the message lists the known ids."""

    def __init__(self, target_id: str, known: Sequence[str]):
        self.target_id = target_id
        self.known = tuple(known)
        self.message = "unknown target %r; known targets: %s" % (target_id, ", ".join(self.known))
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (field missing or empty)"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return "%s (%s)" % (text, type(value).__name__)
