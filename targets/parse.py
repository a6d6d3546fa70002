"""Validate one parsed profile (the YAML's dict) and build a TargetProfile from it.

Every check names the field by its dotted path (``power_modes[1].limit.unit``) and says what was
expected, through :class:`targets.errors.ProfileError`. Unknown keys are refused too, so that a
misspelt field is not silently ignored. ``host_probe: true`` profiles get this machine's figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from targets.errors import ProfileError
from targets.host_probe import fp32_peak_lower_bound_tflops, probe_host
from targets.schema import (
    ENGINES,
    KINDS,
    PRECISIONS,
    SENSORS,
    UNITS,
    Figure,
    HostFacts,
    MatchRules,
    PowerMode,
    PowerSensing,
    Price,
    Runtime,
    SoftwareLine,
    Source,
    TargetProfile,
    unit_for_precision,
)

SCHEMA_VERSION = 1
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_+.-]*$")
_HEX_PAIR = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KIND_CHECKS = {
    "text": lambda v: isinstance(v, str) and v.strip() != "",
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "mapping": lambda v: isinstance(v, dict),
}
_KIND_NAMES = {
    "text": "a non-empty string",
    "bool": "true or false",
    "int": "an integer",
    "number": "a number",
    "list": "a list",
    "mapping": "a mapping",
}


class _Reader:
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
                raise self.fail(path, _KIND_NAMES[kind], None)
            return None
        if not _KIND_CHECKS[kind](value):
            raise self.fail(path, _KIND_NAMES[kind], value)
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


def _source(r: _Reader, key: str, data: Any, field: str) -> Source:
    d = r.mapping(data, field, ("url", "title", "retrieved", "checked_via", "note"))
    url = r.get(d, "url", field, "text")
    if not re.match(r"^(https?|file)://", url):
        raise r.fail(field + ".url", "an http(s):// or file:// URL", url)
    retrieved = d.get("retrieved")
    if isinstance(retrieved, datetime.date):  # YAML reads an unquoted ISO date as a date
        retrieved = retrieved.isoformat()
    if not isinstance(retrieved, str) or not _DATE.match(retrieved):
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


def _figure(r: _Reader, data: Any, field: str, unit: str, sources: Dict[str, Source], compute: bool = False) -> Figure:
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


def _opt_figure(
    r: _Reader, d: Dict[str, Any], key: str, field: str, unit: str, sources: Dict[str, Source]
) -> Optional[Figure]:
    if d.get(key) is None:
        return None
    return _figure(r, d[key], "%s.%s" % (field, key) if field else key, unit, sources)


def _power_mode(r: _Reader, data: Any, field: str, sources: Dict[str, Source]) -> PowerMode:
    d = r.mapping(
        data, field, ("name", "limit", "peak_compute", "memory_bandwidth", "default", "nvpmodel_id", "requires", "note")
    )
    compute_raw = r.get(d, "peak_compute", field, "mapping", required=False) or {}
    compute: Dict[str, Figure] = {}
    for precision, fig in compute_raw.items():
        path = "%s.peak_compute.%s" % (field, precision)
        if precision not in PRECISIONS:
            raise r.fail(path, "a precision key, one of " + ", ".join(PRECISIONS), has_got=False)
        compute[precision] = _figure(r, fig, path, unit_for_precision(precision), sources, compute=True)
    return PowerMode(
        name=r.get(d, "name", field, "text"),
        limit=_opt_figure(r, d, "limit", field, UNITS["power"], sources),
        peak_compute=compute,
        memory_bandwidth=_opt_figure(r, d, "memory_bandwidth", field, UNITS["memory_bandwidth"], sources),
        default=r.get(d, "default", field, "bool", required=False) or False,
        nvpmodel_id=r.get(d, "nvpmodel_id", field, "int", required=False),
        requires=r.get(d, "requires", field, "text", required=False),
        note=r.get(d, "note", field, "text", required=False),
    )


def _runtime(r: _Reader, data: Any, field: str) -> Runtime:
    d = r.mapping(data, field, ("name", "versions", "precisions", "devices", "note"))
    name = r.get(d, "name", field, "text")
    if not _NAME.match(name):
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


def _power_sensing(r: _Reader, data: Any, sources: Dict[str, Source]) -> PowerSensing:
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


def _match_rules(r: _Reader, data: Any) -> MatchRules:
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
        usb_ids=r.text_list(d, "usb_ids", field, _HEX_PAIR, hexid),
        pci_ids=r.text_list(d, "pci_ids", field, _HEX_PAIR, hexid),
        cpu_model=tuple(s.lower() for s in r.text_list(d, "cpu_model", field)),
        cpu_flags=r.text_list(d, "cpu_flags", field),
        gpu_names=r.text_list(d, "gpu_names", field),
        gpu_family=r.text_list(d, "gpu_family", field),
        memory_gib=memory,
    )


_TOP_FIELDS = (
    "schema",
    "id",
    "name",
    "kind",
    "arch",
    "summary",
    "host_probe",
    "memory_capacity",
    "runtimes",
    "software",
    "power_modes",
    "power_sensing",
    "idle_power",
    "price",
    "match",
    "sources",
    "notes",
)


def parse_profile(path: Path, data: Any, origin: str, proc_root: Path, sysfs_root: Path) -> TargetProfile:
    """Validate ``data`` read from ``path`` and build the profile; ProfileError names what is wrong."""
    r = _Reader(path)
    d = r.mapping(data, "", _TOP_FIELDS)
    schema = d.get("schema")
    if schema != SCHEMA_VERSION:
        raise r.fail("schema", "%d (the profile schema version)" % SCHEMA_VERSION, schema)
    profile_id = r.get(d, "id", "", "text")
    if not _ID.match(profile_id):
        raise r.fail(
            "id", "a lower-case id of letters, digits, '.', '_' or '-' (e.g. jetson-orin-nano-8gb)", profile_id
        )
    kind = r.get(d, "kind", "", "text")
    if kind not in KINDS:
        raise r.fail("kind", "one of " + ", ".join(KINDS), kind)

    sources: Dict[str, Source] = {}
    raw_sources = r.get(d, "sources", "", "mapping", required=False) or {}
    for key, value in raw_sources.items():
        if not isinstance(key, str) or not _ID.match(key):
            raise r.fail("sources.%s" % key, "a source key of lower-case letters, digits, '.', '_' or '-'", key)
        sources[key] = _source(r, key, value, "sources.%s" % key)

    modes_raw = r.get(d, "power_modes", "", "list")
    if not modes_raw:
        raise r.fail("power_modes", "at least one power mode", modes_raw)
    modes = tuple(_power_mode(r, m, "power_modes[%d]" % i, sources) for i, m in enumerate(modes_raw))
    names = [m.name.lower() for m in modes]
    if len(set(names)) != len(names):
        raise r.fail("power_modes", "distinct mode names", [m.name for m in modes])
    if sum(1 for m in modes if m.default) > 1:
        raise r.fail("power_modes", "at most one mode with default: true", [m.name for m in modes if m.default])

    runtimes_raw = r.get(d, "runtimes", "", "list")
    runtimes = tuple(_runtime(r, x, "runtimes[%d]" % i) for i, x in enumerate(runtimes_raw))
    software = []
    for i, item in enumerate(r.get(d, "software", "", "list", required=False) or []):
        field = "software[%d]" % i
        sd = r.mapping(item, field, ("name", "version", "note"))
        software.append(
            SoftwareLine(
                name=r.get(sd, "name", field, "text"),
                version=str(r.get(sd, "version", field, "text")),
                note=r.get(sd, "note", field, "text", required=False),
            )
        )

    price_raw = r.mapping(r.get(d, "price", "", "mapping"), "price", ("item", "purchase", "rental_hourly"))
    price = Price(
        item=r.get(price_raw, "item", "price", "text"),
        purchase=_opt_figure(r, price_raw, "purchase", "price", UNITS["price"], sources),
        rental_hourly=_opt_figure(r, price_raw, "rental_hourly", "price", UNITS["rental"], sources),
    )
    if kind == "datacenter-gpu" and price.rental_hourly is None:
        raise r.fail("price.rental_hourly", "an hourly rental price figure (required for datacenter-gpu)")

    notes = r.text_list(d, "notes", "")
    profile = TargetProfile(
        id=profile_id,
        name=r.get(d, "name", "", "text"),
        kind=kind,
        arch=r.get(d, "arch", "", "text"),
        summary=r.get(d, "summary", "", "text"),
        path=path,
        origin=origin,
        memory_capacity=_opt_figure(r, d, "memory_capacity", "", UNITS["memory_capacity"], sources),
        runtimes=runtimes,
        software=tuple(software),
        power_modes=modes,
        power_sensing=_power_sensing(r, r.get(d, "power_sensing", "", "mapping"), sources),
        idle_power=_opt_figure(r, d, "idle_power", "", UNITS["power"], sources),
        price=price,
        match=_match_rules(r, d.get("match")),
        sources=sources,
        notes=notes,
    )
    if r.get(d, "host_probe", "", "bool", required=False):
        profile = _with_host_facts(profile, probe_host(proc_root, sysfs_root))
    return profile


def _with_host_facts(profile: TargetProfile, facts: Optional[HostFacts]) -> TargetProfile:
    """Fill a ``host_probe: true`` profile with this machine's figures, marking derived ones."""
    if facts is None or not facts.isa or not any(f.startswith(("sse", "avx")) for f in facts.isa):
        note = "host figures not probed: this machine's /proc/cpuinfo is unreadable or not x86-64"
        return dataclasses.replace(profile, notes=profile.notes + (note,))
    today = datetime.date.today().isoformat()
    machine = Source(
        key="this-machine",
        url="file://%s" % Path(facts.proc_root, "cpuinfo"),
        title="/proc/cpuinfo, /proc/meminfo and cpufreq of the machine that loaded this profile",
        retrieved=today,
    )
    sources = dict(profile.sources)
    sources[machine.key] = machine
    memory = None
    if facts.memory_gib is not None:
        memory = Figure(
            value=round(facts.memory_gib * 1.073741824, 2),
            unit=UNITS["memory_capacity"],
            source=machine,
            note="MemTotal (memory usable by the OS), converted to GB",
        )
    modes = list(profile.power_modes)
    peak = fp32_peak_lower_bound_tflops(facts)
    if peak is not None and modes:
        compute = dict(modes[0].peak_compute)
        compute.setdefault(
            "fp32",
            Figure(value=round(peak[0], 3), unit=UNITS["compute_float"], estimate=True, basis=peak[1], engine="cpu"),
        )
        modes[0] = dataclasses.replace(modes[0], peak_compute=compute)
    runtimes = tuple(
        dataclasses.replace(rt, precisions=rt.precisions + ("bf16",))
        if rt.name == "openvino" and "bf16" not in rt.precisions and ({"amx_bf16", "avx512_bf16"} & set(facts.isa))
        else rt
        for rt in profile.runtimes
    )
    return dataclasses.replace(
        profile, host=facts, sources=sources, memory_capacity=memory, power_modes=tuple(modes), runtimes=runtimes
    )
