"""Reading one YAML profile's fields with their dotted paths, for errors that name the field.

:class:`FieldReader` checks a value's kind (text, number, list, ...) and raises
:class:`targets.errors.ProfileError` naming ``power_modes[1].limit.unit`` and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from targets.errors import ProfileError

SCHEMA_VERSION = 1
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_+.-]*$")
HEX_PAIR_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KIND_CHECKS = {
    "text": lambda v: isinstance(v, str) and v.strip() != "",
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "mapping": lambda v: isinstance(v, dict),
}
KIND_NAMES = {
    "text": "a non-empty string",
    "bool": "true or false",
    "int": "an integer",
    "number": "a number",
    "list": "a list",
    "mapping": "a mapping",
}


class FieldReader:
    """Typed access to the parsed YAML, raising ProfileError with the field's dotted path."""

    def __init__(self, file: Path):
        self.file = file

    def fail(self, field: str, expected: str, got: Any = None, has_got: bool = True) -> ProfileError:
        return ProfileError(self.file, field, expected, got, has_got=has_got)

    def mapping(self, value: Any, field: str, allowed: Sequence[str]) -> Dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field or "(top level)", "a mapping with keys " + ", ".join(allowed), value)
        for key in value:
            if key not in allowed:
                where = "%s.%s" % (field, key) if field else str(key)
                raise self.fail(where, "no such field; known fields here: " + ", ".join(allowed), has_got=False)
        return value

    def get(self, data: Dict[str, Any], key: str, field: str, kind: str, required: bool = True) -> Any:
        path = "%s.%s" % (field, key) if field else key
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(path, KIND_NAMES[kind], None)
            return None
        if not KIND_CHECKS[kind](value):
            raise self.fail(path, KIND_NAMES[kind], value)
        return value

    def text_list(
        self,
        data: Dict[str, Any],
        key: str,
        field: str,
        pattern: Optional[re.Pattern] = None,
        expected: str = "a list of strings",
        required: bool = False,
    ) -> Tuple[str, ...]:
        path = "%s.%s" % (field, key) if field else key
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(path, expected, None)
            return ()
        if not isinstance(value, list):
            raise self.fail(path, expected, value)
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or (pattern and not pattern.match(item)):
                raise self.fail("%s[%d]" % (path, i), expected, item)
            out.append(item)
        return tuple(out)


# ---------------------------------------------------------------------------------------------
# Field parsers
