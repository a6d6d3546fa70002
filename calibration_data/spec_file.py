"""Reading a small ``.toml`` or ``.json`` settings file into a dict, with one-line errors.

Shared by the preprocessing spec (``preprocess.py``) and the data spec (``data_spec.py``). TOML
needs ``tomllib`` (Python 3.11+) or the ``tomli`` backport; JSON works everywhere. Python
3.8-compatible: the agent may import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibration_data.dataset import DatasetError, data_error

__all__ = ["SPEC_SUFFIXES", "read_spec_file", "reject_unknown_keys"]

SPEC_SUFFIXES = (".toml", ".json")


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The top-level table of a ``.toml`` or ``.json`` file; anything else is a :class:`DatasetError`."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise data_error(p, f"a spec file must end in .toml or .json, not '{p.suffix or '(none)'}'", "rename it")
    if not p.is_file():
        raise data_error(p, "no such spec file", "check the path (relative paths are from the current directory)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise data_error(p, f"cannot be read as UTF-8 text ({exc})", "save it as a UTF-8 text file") from None
    if suffix == ".json":
        try:
            table = json.loads(text)
        except ValueError as exc:
            raise data_error(p, f"is not valid JSON ({exc})", "fix the syntax at that position") from None
    else:
        table = _parse_toml(p, text)
    if not isinstance(table, dict):
        raise data_error(p, f"holds a {type(table).__name__}, not a table of settings", 'write {"key": value, ...}')
    return table


def _parse_toml(p: Path, text: str) -> dict[str, Any]:
    try:
        import tomllib as toml  # novermin: Python 3.11+; older Pythons fall back to tomli below
    except ImportError:
        try:
            import tomli as toml  # type: ignore[no-redef]
        except ImportError:
            raise data_error(
                p,
                "TOML needs Python 3.11+ or the tomli package",
                "pip install tomli, or write the same settings as a .json file",
            ) from None
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise data_error(p, f"is not valid TOML ({exc})", "fix the syntax at that line") from None


def reject_unknown_keys(source: str | Path, table: dict[str, Any], known: tuple, what: str) -> None:
    """A misspelt key would be silently ignored: name it and list the keys that exist."""
    unknown = sorted(str(k) for k in table if k not in known)
    if unknown:
        raise DatasetError(
            " ".join(
                f"{source}: unknown {what} key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}; "
                f"the keys are {', '.join(known)}".split()
            )
        )
