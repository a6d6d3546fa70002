"""Validate one parsed profile (the YAML's dict) and build a TargetProfile from it.

Every check names the field by its dotted path (``power_modes[1].limit.unit``) and says what was
expected, through :class:`targets.errors.ProfileError`. Unknown keys are refused too, so that a
misspelt field is not silently ignored. ``host_probe: true`` profiles get this machine's figures.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any, Dict, Optional

from targets.host_probe import fp32_peak_lower_bound_tflops, probe_host
from targets.parse_parts import (
    parse_match_rules,
    parse_optional_figure,
    parse_power_mode,
    parse_power_sensing,
    parse_runtime,
    parse_source,
)
from targets.reader import ID_RE, SCHEMA_VERSION, FieldReader
from targets.schema import (
    KINDS,
    UNITS,
    Figure,
    HostFacts,
    Price,
    SoftwareLine,
    Source,
    TargetProfile,
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
    "watts_per_busy_core",
    "price",
    "match",
    "sources",
    "notes",
)


def parse_profile(path: Path, data: Any, origin: str, proc_root: Path, sysfs_root: Path) -> TargetProfile:
    """Validate ``data`` read from ``path`` and build the profile; ProfileError names what is wrong."""
    r = FieldReader(path)
    d = r.mapping(data, "", _TOP_FIELDS)
    schema = d.get("schema")
    if schema != SCHEMA_VERSION:
        raise r.fail("schema", "%d (the profile schema version)" % SCHEMA_VERSION, schema)
    profile_id = r.get(d, "id", "", "text")
    if not ID_RE.match(profile_id):
        raise r.fail(
            "id", "a lower-case id of letters, digits, '.', '_' or '-' (e.g. jetson-orin-nano-8gb)", profile_id
        )
    kind = r.get(d, "kind", "", "text")
    if kind not in KINDS:
        raise r.fail("kind", "one of " + ", ".join(KINDS), kind)

    sources: Dict[str, Source] = {}
    raw_sources = r.get(d, "sources", "", "mapping", required=False) or {}
    for key, value in raw_sources.items():
        if not isinstance(key, str) or not ID_RE.match(key):
            raise r.fail("sources.%s" % key, "a source key of lower-case letters, digits, '.', '_' or '-'", key)
        sources[key] = parse_source(r, key, value, "sources.%s" % key)

    modes_raw = r.get(d, "power_modes", "", "list")
    if not modes_raw:
        raise r.fail("power_modes", "at least one power mode", modes_raw)
    modes = tuple(parse_power_mode(r, m, "power_modes[%d]" % i, sources) for i, m in enumerate(modes_raw))
    names = [m.name.lower() for m in modes]
    if len(set(names)) != len(names):
        raise r.fail("power_modes", "distinct mode names", [m.name for m in modes])
    if sum(1 for m in modes if m.default) > 1:
        raise r.fail("power_modes", "at most one mode with default: true", [m.name for m in modes if m.default])

    runtimes_raw = r.get(d, "runtimes", "", "list")
    runtimes = tuple(parse_runtime(r, x, "runtimes[%d]" % i) for i, x in enumerate(runtimes_raw))
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
        purchase=parse_optional_figure(r, price_raw, "purchase", "price", UNITS["price"], sources),
        rental_hourly=parse_optional_figure(r, price_raw, "rental_hourly", "price", UNITS["rental"], sources),
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
        memory_capacity=parse_optional_figure(r, d, "memory_capacity", "", UNITS["memory_capacity"], sources),
        runtimes=runtimes,
        software=tuple(software),
        power_modes=modes,
        power_sensing=parse_power_sensing(r, r.get(d, "power_sensing", "", "mapping"), sources),
        idle_power=parse_optional_figure(r, d, "idle_power", "", UNITS["power"], sources),
        watts_per_busy_core=parse_optional_figure(r, d, "watts_per_busy_core", "", UNITS["power"], sources),
        price=price,
        match=parse_match_rules(r, d.get("match")),
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
