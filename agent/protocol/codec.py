"""JSON encoding and validated decoding of protocol messages.

Decoding validates every field and raises :class:`agent.errors.ProtocolError` naming the offending
path, so a malformed or forged message is refused with a clear reason instead of crashing a handler.
Larger payloads than :data:`~agent.protocol.topics.MAX_PAYLOAD_BYTES` are refused before parsing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Dict, List, Type, TypeVar, Union, get_type_hints

from agent.errors import ProtocolError
from agent.protocol.topics import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION

T = TypeVar("T")


def to_dict(message: Any) -> Dict[str, Any]:
    return dataclasses.asdict(message)


def encode(message: Any) -> bytes:
    return json.dumps(to_dict(message), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def decode(cls: Type[T], payload: Union[bytes, str]) -> T:
    """Parse and validate a JSON payload into ``cls``; raise ProtocolError with the reason."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("message of %d bytes exceeds the %d-byte limit" % (len(payload), MAX_PAYLOAD_BYTES))
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("message is not valid UTF-8 JSON: %s" % exc) from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply to be an edgeprof message") from None
    return from_dict(cls, data)


def _refuse_constant(name: str) -> float:
    raise ValueError("%s is not a number edgeprof accepts" % name)


def from_dict(cls: Type[T], data: Any) -> T:
    if isinstance(data, dict):
        version = data.get("schema_version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                "%s has schema_version %r; this side speaks %d: upgrade the older of host and agent"
                % (cls.__name__, version, PROTOCOL_VERSION)
            )
    return _convert(cls, data, cls.__name__)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ProtocolError("%s: expected a list, got %s" % (path, type(value).__name__))
        return [_convert(args[0], v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (path, type(value).__name__))
        return {str(k): _convert(args[1], v, "%s.%s" % (path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (path, type(value).__name__))
        hints = get_type_hints(tp, globalns=vars(sys.modules[tp.__module__]))
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ProtocolError("%s: unknown field(s) %s" % (path, ", ".join(unknown)))
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], "%s.%s" % (path, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise ProtocolError("%s: missing required field %r" % (path, name))
        try:
            return tp(**kwargs)
        except ProtocolError as exc:
            raise ProtocolError("%s: %s" % (path, exc)) from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ProtocolError("%s: expected true/false, got %r" % (path, value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("%s: expected an integer, got %r" % (path, value))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError("%s: expected a number, got %r" % (path, value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ProtocolError("%s: expected a string, got %r" % (path, value))
        return value
    raise TypeError("protocol has an unsupported field type %r at %s" % (tp, path))
