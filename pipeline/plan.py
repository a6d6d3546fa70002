"""Plan: expand the request into the variants to build, from what passes and runtimes declare.

A variant is a runtime plus a chain of passes. The chain for (runtime R, precision P) is read off the
declarations (:attr:`Pass.provides`, :attr:`Pass.runtimes`, the kinds, :attr:`Runtime.artifact_kinds`):

1. every chain starts with the opset upgrade (per-channel INT8 needs opset 13; design.md);
2. the pass that provides P for R (one that names R wins over one for any runtime); none for fp32;
3. an exporter when the chain's output is not a kind R loads, or is not the kind R prefers and an
   exporter for R exists (ONNX to OpenVINO IR, say).

What cannot be built is not an error: it is a :class:`Skipped` with its reason, printed by the CLI.
Nothing here imports a vendor package: pass and runtime modules load their tools when they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pydantic

from pipeline.errors import InputError

if TYPE_CHECKING:
    from agent.runtimes import Runtime
    from pipeline.passes.base import Pass

FP32 = "fp32"
#: ``--search``: the declared defaults only, or also the settings passes and runtimes declare worth trying
SEARCHES = ("default", "wide")
OPSET_STEP = "opset_upgrade"


@dataclass(frozen=True)
class PassStep:
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantSpec:
    """One build to make and measure."""

    id: str
    runtime: str
    precision: str
    passes: tuple[PassStep, ...]
    artifact_kind: str
    needs_calibration: bool = False
    runtime_options: Mapping[str, Any] = field(default_factory=dict)
    sparsity: str | None = None  # the zeros a pruning step left ("structured", "2:4", "unstructured")

    @property
    def pass_names(self) -> list[str]:
        return [p.name for p in self.passes]


@dataclass(frozen=True)
class Skipped:
    """A variant the plan (or a device) cannot serve, and why."""

    variant: str
    reason: str
    device_id: str = ""


@dataclass(frozen=True)
class Plan:
    variants: tuple[VariantSpec, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def needs_calibration(self) -> list[VariantSpec]:
        return [v for v in self.variants if v.needs_calibration]


@dataclass(frozen=True)
class Catalog:
    """The runtimes and passes a plan may use: by default every registered one."""

    runtimes: Mapping[str, type[Runtime]]
    passes: Mapping[str, type[Pass]]

    @classmethod
    def registered(cls) -> Catalog:
        from agent.runtimes import declared_runtimes
        from pipeline.passes import declared_passes

        return cls(declared_runtimes(), declared_passes())

    def precisions(self) -> list[str]:
        """Every precision some pass provides, fp32 first (the order of the registry after it)."""
        found = [FP32]
        for p in self.passes.values():
            if p.provides and p.provides not in found:
                found.append(p.provides)
        return found

    def runtime_names(self) -> list[str]:
        return list(self.runtimes)

    def prune_passes(self) -> dict[str, type[Pass]]:
        """``--prune`` name -> pruning pass."""
        return {p.prune_name: p for p in self.passes.values() if p.prune_name}


@dataclass(frozen=True)
class Prune:
    """One value of the pruning axis: a pass and its amount (``channels=0.3``), or none."""

    label: str  # in variant ids: "" for none, else "channels0.3", "2to4"
    step: PassStep | None
    sparsity: str | None


NO_PRUNE = Prune("", None, None)


def parse_prune(text: str, catalog: Catalog) -> Prune:
    """``none``, ``NAME`` or ``NAME=AMOUNT`` (``channels=0.3``); InputError listing the names."""
    text = text.strip()
    if text in ("", "none"):
        return NO_PRUNE
    name, _, amount = text.partition("=")
    passes = catalog.prune_passes()
    cls = passes.get(name)
    if cls is None:
        raise InputError(f"--prune {text}: unknown pruning {name!r}; known: none, {', '.join(passes)}")
    config: dict[str, Any] = {}
    if amount:
        if cls.prune_amount is None:
            raise InputError(f"--prune {text}: {name} takes no amount; write --prune {name}")
        try:
            config[cls.prune_amount] = float(amount)
        except ValueError:
            raise InputError(f"--prune {text}: the amount must be a number, e.g. {name}=0.3") from None
    try:
        cls(config)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))} {e['msg'].lower()}" for e in exc.errors())
        raise InputError(f"--prune {text}: {problems}") from None
    return Prune(f"{name}{amount}", PassStep(cls.name, config), cls.sparsity)


def plan_variants(
    precisions: Sequence[str],
    runtimes: Sequence[str],
    catalog: Catalog | None = None,
    *,
    target_opset: int = 17,
    runtime_options: Mapping[str, Mapping[str, Any]] | None = None,
    prune: Sequence[str] = ("none",),
    search: str = "default",
) -> Plan:
    """One variant per runtime, pruning and precision that the catalogue can build; the rest skipped
    with why. ``search="wide"`` adds, for each, the settings its precision pass and its runtime
    declare worth trying (:attr:`Pass.search_space`, :attr:`Runtime.search_options`): the defaults
    that hurt are found by measuring, not assumed. An unknown name is an InputError listing the known."""
    if search not in SEARCHES:
        raise InputError(f"--search {search}: choose {' or '.join(SEARCHES)}")
    catalog = catalog or Catalog.registered()
    known_p = catalog.precisions()
    unknown = [p for p in precisions if p not in known_p]
    if unknown:
        raise InputError(f"--precisions: unknown precision(s) {', '.join(unknown)}; known: {', '.join(known_p)}")
    unknown = [r for r in runtimes if r not in catalog.runtimes]
    if unknown:
        raise InputError(
            f"--runtimes: unknown runtime(s) {', '.join(unknown)}; known: {', '.join(catalog.runtime_names())}"
        )
    prunes = [parse_prune(p, catalog) for p in dict.fromkeys(prune or ("none",))]
    variants: list[VariantSpec] = []
    skipped: list[Skipped] = []
    for runtime in dict.fromkeys(runtimes):
        options = dict((runtime_options or {}).get(runtime, {}))
        for pruning in prunes:
            for precision in dict.fromkeys(precisions):
                made = _variant(catalog, runtime, precision, target_opset, options, pruning)
                if isinstance(made, Skipped):
                    skipped.append(made)
                else:
                    variants.extend(_widen(made, catalog) if search == "wide" else [made])
    return Plan(tuple(variants), tuple(skipped))


def _widen(spec: VariantSpec, catalog: Catalog) -> list[VariantSpec]:
    """``spec`` plus one variant per setting its precision pass declares, each of those at every
    setting its runtime declares; the labels go into the ids (``ort-int8-static-entropy``)."""
    out = [spec]
    for i, step in enumerate(spec.passes):
        cls = catalog.passes.get(step.name)
        if cls is None or cls.provides != spec.precision:
            continue
        for label, overrides in cls.search_space:
            steps = list(spec.passes)
            steps[i] = PassStep(step.name, {**step.config, **overrides})
            out.append(replace(spec, id=f"{spec.id}-{label}", passes=tuple(steps)))
    runtime = catalog.runtimes[spec.runtime]
    with_options = []
    for label, options in runtime.search_options:
        for v in out:
            with_options.append(replace(v, id=f"{v.id}-{label}", runtime_options={**v.runtime_options, **options}))
    return out + with_options


def _variant(
    catalog: Catalog, runtime: str, precision: str, target_opset: int, options: dict[str, Any], pruning: Prune
) -> VariantSpec | Skipped:
    rt = catalog.runtimes[runtime]
    vid = f"{rt.short_name}-{precision}" + (f"-{pruning.label}" if pruning.label else "")
    if precision not in rt.precisions:
        return Skipped(vid, f"{runtime} does not run {precision} (it runs {', '.join(rt.precisions)})")
    steps = [PassStep(OPSET_STEP, {"target_opset": target_opset})]
    if pruning.step is not None:  # prune the FP32 graph, then lower its precision
        steps.append(pruning.step)
    kind = "onnx"
    needs_calib = False
    if precision != FP32:
        provider = _pick(catalog, runtime, lambda p: p.provides == precision and p.input_kind == kind)
        if provider is None:
            return Skipped(vid, f"no registered pass builds {precision} for {runtime}")
        steps.append(PassStep(provider.name))
        kind = provider.output_kind
        needs_calib = needs_calib or provider.needs_calibration
    if kind not in rt.artifact_kinds or kind != rt.artifact_kinds[0]:
        exporter = _pick(
            catalog,
            runtime,
            lambda p, k=kind: p.provides is None and p.input_kind == k and p.output_kind in rt.artifact_kinds,
            specific_only=kind in rt.artifact_kinds,
        )
        if exporter is not None:
            steps.append(PassStep(exporter.name))
            kind = exporter.output_kind
        elif kind not in rt.artifact_kinds:
            return Skipped(vid, f"{runtime} loads {', '.join(rt.artifact_kinds)}, and no pass turns {kind} into one")
    return VariantSpec(vid, runtime, precision, tuple(steps), kind, needs_calib, options, pruning.sparsity)


def _pick(catalog: Catalog, runtime: str, fits: Any, specific_only: bool = False) -> type[Pass] | None:
    """The first fitting pass that names ``runtime``, else (unless ``specific_only``) the first
    fitting pass for any runtime."""
    fitting = [p for p in catalog.passes.values() if fits(p) and p.serves(runtime)]
    specific = [p for p in fitting if runtime in p.runtimes]
    if specific:
        return specific[0]
    if specific_only:
        return None
    generic = [p for p in fitting if not p.runtimes]
    return generic[0] if generic else None
