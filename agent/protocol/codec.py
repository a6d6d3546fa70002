"""JSON encoding and validated decoding of protocol messages.

Decoding validates every field and raises :class:`agent.errors.ProtocolError` naming the offending
path, so a malformed or forged message is refused with a clear reason instead of crashing a handler.
Larger payloads than :data:`~agent.protocol.topics.MAX_PAYLOAD_BYTES` are refused before parsing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Callable, Dict, List, Type, TypeVar, Union, get_type_hints

from agent.errors import ProtocolError
from agent.protocol.topics import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION

T = TypeVar("T")


def to_dict(message: Any) -> Dict[str, Any]:
    return dataclasses.asdict(message)


def encode(message: Any) -> bytes:
    return json.dumps(to_dict(message), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def decode(cls: Type[T], payload: Union[bytes, str]) -> T:
    """Parse and validate a JSON payload into ``cls``; raise ProtocolError with the reason."""
    return from_dict(cls, parse_json(payload))


def parse_json(payload: Union[bytes, str]) -> Any:
    """The JSON value of a payload, refused with ProtocolError when too large, not UTF-8 JSON, too deep
    or holding NaN/Infinity."""
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
    return data


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
    return _converter(tp)(value, "", path)


#: ``(value, parent, key)`` -> the checked value; ``key`` is a field name, dict key or list index. The
#: path in an error message is built only when there is an error.
Converter = Callable[[Any, str, Any], Any]
_CONVERTERS: Dict[Any, Converter] = {}


def _path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return "%s[%d]" % (parent, key)
    return "%s.%s" % (parent, key) if parent else str(key)


def _converter(tp: Any) -> Converter:
    """The checking converter of a field type, built once per type: resolving annotations and
    dispatching on the type for every field of every message made a result cost about a millisecond
    to decode, which bounded the host's ingestion."""
    conv = _CONVERTERS.get(tp)
    if conv is None:
        conv = _CONVERTERS[tp] = _build(tp)
    return conv


def _build(tp: Any) -> Converter:
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if tp is Any:
        return lambda value, parent, key: value
    if origin is Union:
        inner = _converter([a for a in args if a is not type(None)][0])
        optional = type(None) in args

        def union(value: Any, parent: str, key: Any) -> Any:
            if value is None and optional:
                return None
            return inner(value, parent, key)

        return union
    if origin in (list, List):
        item = _converter(args[0])

        def listed(value: Any, parent: str, key: Any) -> Any:
            if not isinstance(value, list):
                raise ProtocolError("%s: expected a list, got %s" % (_path(parent, key), type(value).__name__))
            here = _path(parent, key)
            return [item(v, here, i) for i, v in enumerate(value)]

        return listed
    if origin in (dict, Dict):
        item = _converter(args[1])

        def mapped(value: Any, parent: str, key: Any) -> Any:
            if not isinstance(value, dict):
                raise ProtocolError("%s: expected an object, got %s" % (_path(parent, key), type(value).__name__))
            here = _path(parent, key)
            return {str(k): item(v, here, str(k)) for k, v in value.items()}

        return mapped
    if dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    if tp is bool:

        def boolean(value: Any, parent: str, key: Any) -> Any:
            if not isinstance(value, bool):
                raise ProtocolError("%s: expected true/false, got %r" % (_path(parent, key), value))
            return value

        return boolean
    if tp is int:

        def integer(value: Any, parent: str, key: Any) -> Any:
            if type(value) is not int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ProtocolError("%s: expected an integer, got %r" % (_path(parent, key), value))
            return value

        return integer
    if tp is float:

        def number(value: Any, parent: str, key: Any) -> Any:
            kind = type(value)
            if kind is float:
                return value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProtocolError("%s: expected a number, got %r" % (_path(parent, key), value))
            return float(value)

        return number
    if tp is str:

        def text(value: Any, parent: str, key: Any) -> Any:
            if not isinstance(value, str):
                raise ProtocolError("%s: expected a string, got %r" % (_path(parent, key), value))
            return value

        return text

    def unsupported(value: Any, parent: str, key: Any) -> Any:
        raise TypeError("protocol has an unsupported field type %r at %s" % (tp, _path(parent, key)))

    return unsupported


def _dataclass_converter(tp: Any) -> Converter:
    state: Dict[str, Any] = {}

    def resolve() -> Any:  # lazily: a class may refer to one defined after it
        hints = get_type_hints(tp, globalns=vars(sys.modules[tp.__module__]))
        fields = []
        for f in dataclasses.fields(tp):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
            fields.append((f.name, _converter(hints[f.name]), required))
        shape = state["shape"] = (tuple(fields), frozenset(f[0] for f in fields))  # one assignment: thread-safe
        return shape

    def convert(value: Any, parent: str, key: Any) -> Any:
        fields, names = state.get("shape") or resolve()
        if not isinstance(value, dict):
            raise ProtocolError("%s: expected an object, got %s" % (_path(parent, key), type(value).__name__))
        here = _path(parent, key)
        if not names.issuperset(value):
            unknown = sorted(set(value) - names)
            raise ProtocolError("%s: unknown field(s) %s" % (here, ", ".join(unknown)))
        kwargs = {}
        for name, conv, required in fields:
            if name in value:
                kwargs[name] = conv(value[name], here, name)
            elif required:
                raise ProtocolError("%s: missing required field %r" % (here, name))
        try:
            return tp(**kwargs)
        except ProtocolError as exc:
            raise ProtocolError("%s: %s" % (here, exc)) from None

    return convert
