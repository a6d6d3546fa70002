"""Parsing the parts of a profile: sources, figures, power modes, runtimes, power sensing, match rules.

Each function takes the :class:`~targets.reader.FieldReader` of the file, the part's data and its
dotted path, and returns the part's frozen schema object.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Dict, Optional

from targets.reader import DATE_RE, HEX_PAIR_RE, NAME_RE, FieldReader
from targets.schema import (
    ENGINES,
    PRECISIONS,
    SENSORS,
    UNITS,
    Figure,
    MatchRules,
    PowerMode,
    PowerSensing,
    Runtime,
    Source,
    unit_for_precision,
)


def parse_source(r: FieldReader, key: str, data: Any, field: str) -> Source:
    d = r.mapping(data, field, ("url", "title", "retrieved", "checked_via", "note"))
    url = r.get(d, "url", field, "text")
    if not re.match(r"^(https?|file)://", url):
        raise r.fail(field + ".url", "an http(s):// or file:// URL", url)
    retrieved = d.get("retrieved")
    if isinstance(retrieved, datetime.date):  # YAML reads an unquoted ISO date as a date
        retrieved = retrieved.isoformat()
    if not isinstance(retrieved, str) or not DATE_RE.match(retrieved):
        raise r.fail(field + ".retrieved", "the retrieval date as YYYY-MM-DD", retrieved)
    checked_via = r.get(d, "checked_via", field, "text", required=False)
    if checked_via is not None and not re.match(r"^https?://", checked_via):
        raise r.fail(field + ".checked_via", "an http(s):// URL", checked_via)
    return Source(
        key=key,
        url=url,
        title=r.get(d, "title", field, "text"),
        retrieved=retrieved,
        checked_via=checked_via,
        note=r.get(d, "note", field, "text", required=False),
    )


def parse_figure(
    r: FieldReader, data: Any, field: str, unit: str, sources: Dict[str, Source], compute: bool = False
) -> Figure:
    allowed = ["value", "unit", "source", "estimate", "basis", "note"]
    if compute:
        allowed += ["sparse", "engine"]
    form = "{value, unit: %s, source: <key> | estimate: true, basis: <text>}" % unit
    if not isinstance(data, dict):
        raise r.fail(field, "a figure " + form, data)
    d = r.mapping(data, field, allowed)
    value = r.get(d, "value", field, "number")
    if value < 0:
        raise r.fail(field + ".value", "a number >= 0", value)
    got_unit = d.get("unit")
    if got_unit != unit:
        raise r.fail(field + ".unit", "'%s' (units are fixed per quantity)" % unit, got_unit)
    estimate = r.get(d, "estimate", field, "bool", required=False) or False
    basis = r.get(d, "basis", field, "text", required=False)
    source_key = r.get(d, "source", field, "text", required=False)
    source = None
    if source_key is not None:
        if source_key not in sources:
            known = ", ".join(sorted(sources)) or "none defined"
            raise r.fail(field + ".source", "a key of the file's 'sources' (%s)" % known, source_key)
        source = sources[source_key]
    if estimate:
        if basis is None:
            raise r.fail(field + ".basis", "the basis of the estimate (a figure with estimate: true needs one)")
    elif source is None:
        raise r.fail(field, "a 'source' (key into 'sources') or 'estimate: true' with a 'basis'", has_got=False)
    engine = r.get(d, "engine", field, "text", required=False) if compute else None
    if engine is not None and engine not in ENGINES:
        raise r.fail(field + ".engine", "one of " + ", ".join(ENGINES), engine)
    return Figure(
        value=float(value),
        unit=unit,
        source=source,
        estimate=estimate,
        basis=basis,
        note=r.get(d, "note", field, "text", required=False),
        sparse=(r.get(d, "sparse", field, "bool", required=False) or False) if compute else False,
        engine=engine,
    )


def parse_optional_figure(
    r: FieldReader, d: Dict[str, Any], key: str, field: str, unit: str, sources: Dict[str, Source]
) -> Optional[Figure]:
    if d.get(key) is None:
        return None
    return parse_figure(r, d[key], "%s.%s" % (field, key) if field else key, unit, sources)


def parse_power_mode(r: FieldReader, data: Any, field: str, sources: Dict[str, Source]) -> PowerMode:
    d = r.mapping(
        data, field, ("name", "limit", "peak_compute", "memory_bandwidth", "default", "nvpmodel_id", "requires", "note")
    )
    compute_raw = r.get(d, "peak_compute", field, "mapping", required=False) or {}
    compute: Dict[str, Figure] = {}
    for precision, fig in compute_raw.items():
        path = "%s.peak_compute.%s" % (field, precision)
        if precision not in PRECISIONS:
            raise r.fail(path, "a precision key, one of " + ", ".join(PRECISIONS), has_got=False)
        compute[precision] = parse_figure(r, fig, path, unit_for_precision(precision), sources, compute=True)
    return PowerMode(
        name=r.get(d, "name", field, "text"),
        limit=parse_optional_figure(r, d, "limit", field, UNITS["power"], sources),
        peak_compute=compute,
        memory_bandwidth=parse_optional_figure(r, d, "memory_bandwidth", field, UNITS["memory_bandwidth"], sources),
        default=r.get(d, "default", field, "bool", required=False) or False,
        nvpmodel_id=r.get(d, "nvpmodel_id", field, "int", required=False),
        requires=r.get(d, "requires", field, "text", required=False),
        note=r.get(d, "note", field, "text", required=False),
    )


def parse_runtime(r: FieldReader, data: Any, field: str) -> Runtime:
    d = r.mapping(data, field, ("name", "versions", "precisions", "devices", "note"))
    name = r.get(d, "name", field, "text")
    if not NAME_RE.match(name):
        raise r.fail(field + ".name", "a lower-case runtime name such as tensorrt, onnxruntime, openvino", name)
    precisions = r.text_list(
        d, "precisions", field, required=True, expected="a list of precisions from: " + ", ".join(PRECISIONS)
    )
    for i, p in enumerate(precisions):
        if p not in PRECISIONS:
            raise r.fail("%s.precisions[%d]" % (field, i), "one of " + ", ".join(PRECISIONS), p)
    return Runtime(
        name=name,
        versions=r.text_list(d, "versions", field, required=True, expected="a list of version strings"),
        precisions=precisions,
        devices=r.text_list(d, "devices", field),
        note=r.get(d, "note", field, "text", required=False),
    )


def parse_power_sensing(r: FieldReader, data: Any, sources: Dict[str, Source]) -> PowerSensing:
    field = "power_sensing"
    d = r.mapping(data, field, ("sensor", "rails", "total_rail", "total_is_sum", "scope", "source", "note"))
    sensor = r.get(d, "sensor", field, "text")
    if sensor not in SENSORS:
        raise r.fail(field + ".sensor", "one of " + ", ".join(SENSORS), sensor)
    rails = r.text_list(d, "rails", field)
    total = r.get(d, "total_rail", field, "text", required=False)
    if total is not None and total not in rails:
        raise r.fail(field + ".total_rail", "one of the listed rails (%s) or null" % ", ".join(rails), total)
    total_is_sum = r.get(d, "total_is_sum", field, "bool", required=False) or False
    if total_is_sum and (total is not None or not rails):
        raise r.fail(
            field + ".total_is_sum", "true only when there is no total_rail and rails are listed", total_is_sum
        )
    source_key = r.get(d, "source", field, "text", required=False)
    if source_key is not None and source_key not in sources:
        raise r.fail(field + ".source", "a key of the file's 'sources'", source_key)
    if rails and source_key is None:
        raise r.fail(field + ".source", "the source of the rail names (a key of 'sources')", None)
    return PowerSensing(
        sensor=sensor,
        rails=rails,
        total_rail=total,
        total_is_sum=total_is_sum,
        scope=r.get(d, "scope", field, "text"),
        source=sources.get(source_key) if source_key else None,
        note=r.get(d, "note", field, "text", required=False),
    )


def parse_match_rules(r: FieldReader, data: Any) -> MatchRules:
    field = "match"
    if data is None:
        return MatchRules()
    d = r.mapping(
        data,
        field,
        (
            "dt_model",
            "dt_compatible",
            "exclude_model",
            "usb_ids",
            "pci_ids",
            "cpu_model",
            "cpu_flags",
            "gpu_names",
            "gpu_family",
            "memory_gib",
        ),
    )
    for key in ("gpu_names", "gpu_family"):
        for i, pattern in enumerate(r.text_list(d, key, field)):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise r.fail("%s.%s[%d]" % (field, key, i), "a valid regular expression (%s)" % exc, pattern) from None
    memory = d.get("memory_gib")
    if memory is not None:
        if (
            not isinstance(memory, list)
            or len(memory) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in memory)
            or memory[0] > memory[1]
        ):
            raise r.fail(field + ".memory_gib", "[min, max] in GiB", memory)
        memory = (float(memory[0]), float(memory[1]))
    hexid = "a list of 'vvvv:pppp' ids in lower-case hex"
    return MatchRules(
        dt_model=tuple(s.lower() for s in r.text_list(d, "dt_model", field)),
        dt_compatible=tuple(s.lower() for s in r.text_list(d, "dt_compatible", field)),
        exclude_model=tuple(s.lower() for s in r.text_list(d, "exclude_model", field)),
        usb_ids=r.text_list(d, "usb_ids", field, HEX_PAIR_RE, hexid),
        pci_ids=r.text_list(d, "pci_ids", field, HEX_PAIR_RE, hexid),
        cpu_model=tuple(s.lower() for s in r.text_list(d, "cpu_model", field)),
        cpu_flags=r.text_list(d, "cpu_flags", field),
        gpu_names=r.text_list(d, "gpu_names", field),
        gpu_family=r.text_list(d, "gpu_family", field),
        memory_gib=memory,
    )
