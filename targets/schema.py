"""The typed shape of a target profile: frozen dataclasses, units and vocabularies.

A profile is read from YAML by :mod:`targets.profiles`, which validates every field and builds these
objects; nothing here touches the file system. Every number is a :class:`Figure`: a value, an
explicit unit, and its provenance, which is either a source (a datasheet or vendor page with the date
it was retrieved) or ``estimate: true`` with the basis of the estimate. A figure with both a source
and a basis was *derived* from the source by the stated arithmetic (say, memory bus width times
transfer rate). An estimate is never to be shown as a datasheet figure.

Units are fixed per quantity so that figures compare without conversion (see :data:`UNITS`).

Python 3.8 compatible: the agent reads profiles on JetPack 5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

#: The one unit each quantity is written in.
UNITS: Dict[str, str] = {
    "compute_float": "TFLOPS",
    "compute_int": "TOPS",
    "memory_bandwidth": "GB/s",
    "memory_capacity": "GB",
    "power": "W",
    "price": "USD",
    "rental": "USD/h",
}

FLOAT_PRECISIONS: Tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "fp8")
INT_PRECISIONS: Tuple[str, ...] = ("int8", "int4")
PRECISIONS: Tuple[str, ...] = FLOAT_PRECISIONS + INT_PRECISIONS

KINDS: Tuple[str, ...] = (
    "jetson",  # NVIDIA Jetson module or developer kit
    "usb-accelerator",  # an accelerator plugged into a host (Movidius NCS2)
    "npu",  # an NPU integrated in a PC processor
    "cpu-board",  # a single-board computer used through its CPU
    "cpu-host",  # a PC or server used through its CPU
    "datacenter-gpu",  # a PCIe/SXM GPU in a server, bought or rented
    "other",
)

#: Where a profile's power figure comes from on the device.
SENSORS: Tuple[str, ...] = ("ina3221", "nvml", "rapl", "none")

#: Compute engines a peak figure may refer to.
ENGINES: Tuple[str, ...] = ("gpu", "gpu+dla", "dla", "npu", "vpu", "cpu", "gpu+npu+cpu")


def unit_for_precision(precision: str) -> str:
    """The unit a peak-compute figure for ``precision`` is written in."""
    return UNITS["compute_int"] if precision in INT_PRECISIONS else UNITS["compute_float"]


@dataclasses.dataclass(frozen=True)
class Source:
    """A document a figure was taken from.

    ``retrieved`` is the ISO date on which the figure was checked against ``url``, or against
    ``checked_via`` where that is given (a copy of the same table, e.g. a mirror of the datasheet or
    a page that reproduces the vendor's table).
    """

    key: str
    url: str
    title: str
    retrieved: str
    checked_via: Optional[str] = None
    note: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Figure:
    """One number with its unit and provenance."""

    value: float
    unit: str
    source: Optional[Source] = None
    estimate: bool = False
    basis: Optional[str] = None  # how an estimate was made, or how a derived figure was computed
    note: Optional[str] = None
    sparse: bool = False  # peak compute quoted with 2:4 structured sparsity
    engine: Optional[str] = None  # peak compute: which engine(s) the figure counts

    @property
    def derived(self) -> bool:
        """True when the value was computed from a source's figures rather than quoted."""
        return self.source is not None and self.basis is not None and not self.estimate

    @property
    def dense_value(self) -> float:
        """The value without structured sparsity (2:4 sparsity doubles NVIDIA's quoted peak)."""
        return self.value / 2.0 if self.sparse else self.value

    @property
    def provenance(self) -> str:
        """One short phrase: where the number comes from."""
        if self.estimate:
            return "estimate: %s" % (self.basis or "no basis given")
        assert self.source is not None
        if self.basis:
            return "derived from %s (%s)" % (self.source.key, self.basis)
        return self.source.key

    def __str__(self) -> str:
        text = "%s %s" % (_format_number(self.value), self.unit)
        if self.sparse:
            text += " (sparse)"
        if self.estimate:
            text += " (estimate)"
        return text


def _format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return "%.6g" % value


@dataclasses.dataclass(frozen=True)
class PowerMode:
    """A power mode (nvpmodel on Jetson, a power limit on a GPU) and the peaks it allows.

    ``peak_compute`` maps a precision to its peak; a precision missing here is not published for
    this mode (it is not zero). ``memory_bandwidth`` is None when unpublished.
    """

    name: str
    limit: Optional[Figure]
    peak_compute: Dict[str, Figure]
    memory_bandwidth: Optional[Figure]
    default: bool = False
    nvpmodel_id: Optional[int] = None
    requires: Optional[str] = None  # e.g. "JetPack 6.2" for the MAXN SUPER modes
    note: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Runtime:
    """An inference runtime the target supports, with the versions that matter on it."""

    name: str
    versions: Tuple[str, ...]
    precisions: Tuple[str, ...]
    devices: Tuple[str, ...] = ()  # runtime device names: GPU, DLA, MYRIAD, NPU, CPU
    note: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SoftwareLine:
    """A platform software release line, e.g. JetPack 6.2 with its L4T, TensorRT and Python."""

    name: str
    version: str
    note: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class PowerSensing:
    """How power is read on the target and which rail, if any, is the board total.

    ``total_rail`` names the rail that measures the board (or module) input; None when there is no
    such rail. ``total_is_sum`` says the total has to be summed from ``rails`` instead (Jetson AGX),
    which misses whatever the rails do not cover. ``scope`` says what the total stands for.
    """

    sensor: str
    rails: Tuple[str, ...]
    total_rail: Optional[str]
    total_is_sum: bool
    scope: str
    source: Optional[Source] = None
    note: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Price:
    """Cost inputs: a purchase price for ``item`` and, for rentable GPUs, an hourly rental price."""

    item: str
    purchase: Optional[Figure] = None
    rental_hourly: Optional[Figure] = None


@dataclasses.dataclass(frozen=True)
class MatchRules:
    """What identifies the target on a running machine (see ``agent.device_match``).

    String rules are case-insensitive substrings; ``gpu_names`` and ``gpu_family`` are regular
    expressions searched in the GPU name (``gpu_names``: this exact variant; ``gpu_family``: a
    sibling variant whose figures differ). ``usb_ids`` and ``pci_ids`` are ``vendor:product`` in hex.
    ``memory_gib`` is the (min, max) MemTotal range, in GiB, of the SKU the figures are for.
    """

    dt_model: Tuple[str, ...] = ()
    dt_compatible: Tuple[str, ...] = ()
    exclude_model: Tuple[str, ...] = ()
    usb_ids: Tuple[str, ...] = ()
    pci_ids: Tuple[str, ...] = ()
    cpu_model: Tuple[str, ...] = ()
    cpu_flags: Tuple[str, ...] = ()
    gpu_names: Tuple[str, ...] = ()
    gpu_family: Tuple[str, ...] = ()
    memory_gib: Optional[Tuple[float, float]] = None

    @property
    def empty(self) -> bool:
        return not (
            self.dt_model
            or self.dt_compatible
            or self.usb_ids
            or self.pci_ids
            or self.cpu_model
            or self.gpu_names
            or self.gpu_family
        )


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """Figures read from the machine itself (the ``generic-x86_64`` profile)."""

    cpu_model: str
    logical_cores: int
    physical_cores: Optional[int]
    isa: Tuple[str, ...]  # notable ISA extensions present, e.g. avx2, avx512_vnni, amx_int8
    memory_gib: Optional[float]
    max_freq_ghz: Optional[float]
    proc_root: str


@dataclasses.dataclass(frozen=True)
class TargetProfile:
    """One device kind: what it runs, how fast it can go, how its power is read, what it costs."""

    id: str
    name: str
    kind: str
    arch: str
    summary: str
    path: Path
    origin: str  # "shipped" or "user"
    memory_capacity: Optional[Figure]
    runtimes: Tuple[Runtime, ...]
    software: Tuple[SoftwareLine, ...]
    power_modes: Tuple[PowerMode, ...]
    power_sensing: PowerSensing
    idle_power: Optional[Figure]
    price: Price
    match: MatchRules
    sources: Dict[str, Source]
    notes: Tuple[str, ...] = ()
    host: Optional[HostFacts] = None
    overrides: Optional[Path] = None  # the shipped file a user profile replaces
    #: what one fully busy CPU core adds above idle (W): the CPU-load power estimate's figure
    watts_per_busy_core: Optional[Figure] = None

    @property
    def default_mode(self) -> PowerMode:
        for mode in self.power_modes:
            if mode.default:
                return mode
        return self.power_modes[0]

    def mode(self, name: Optional[str] = None) -> PowerMode:
        """The power mode called ``name`` (case-insensitive), or the default mode."""
        if name is None:
            return self.default_mode
        for mode in self.power_modes:
            if mode.name.lower() == name.lower():
                return mode
        raise KeyError(
            "%s has no power mode %r; its modes are: %s" % (self.id, name, ", ".join(m.name for m in self.power_modes))
        )

    def peak_compute(self, precision: str, mode: Optional[str] = None) -> Optional[Figure]:
        return self.mode(mode).peak_compute.get(precision)

    def memory_bandwidth(self, mode: Optional[str] = None) -> Optional[Figure]:
        return self.mode(mode).memory_bandwidth

    @property
    def precisions(self) -> Tuple[str, ...]:
        """Every precision some runtime on this target supports, in canonical order."""
        found = {p for r in self.runtimes for p in r.precisions}
        return tuple(p for p in PRECISIONS if p in found)

    def supports(self, runtime: str, precision: Optional[str] = None) -> bool:
        for rt in self.runtimes:
            if rt.name == runtime and (precision is None or precision in rt.precisions):
                return True
        return False

    def figures(self) -> Iterator[Tuple[str, Figure]]:
        """Every figure in the profile with a dotted path naming it, for listings and checks."""
        if self.memory_capacity is not None:
            yield "memory_capacity", self.memory_capacity
        for mode in self.power_modes:
            prefix = "power_modes[%s]" % mode.name
            if mode.limit is not None:
                yield prefix + ".limit", mode.limit
            for precision, fig in mode.peak_compute.items():
                yield "%s.peak_compute.%s" % (prefix, precision), fig
            if mode.memory_bandwidth is not None:
                yield prefix + ".memory_bandwidth", mode.memory_bandwidth
        if self.idle_power is not None:
            yield "idle_power", self.idle_power
        if self.watts_per_busy_core is not None:
            yield "watts_per_busy_core", self.watts_per_busy_core
        if self.price.purchase is not None:
            yield "price.purchase", self.price.purchase
        if self.price.rental_hourly is not None:
            yield "price.rental_hourly", self.price.rental_hourly

    def estimates(self) -> List[Tuple[str, Figure]]:
        return [(path, fig) for path, fig in self.figures() if fig.estimate]

    def to_dict(self) -> Dict[str, object]:
        """A JSON-ready view (sources by key, paths as strings)."""
        return _plain(self)


def _plain(obj: object) -> object:
    if isinstance(obj, Source):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Figure):
        out = {
            f.name: getattr(obj, f.name)
            for f in dataclasses.fields(obj)
            if f.name != "source" and getattr(obj, f.name) not in (None, False)
        }
        if obj.source is not None:
            out["source"] = obj.source.key
        return out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
