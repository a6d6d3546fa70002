"""What the user asked the main job for: one typed value the stages read, built by the CLI."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cost import CostOptions, load_utilisation_summary

if TYPE_CHECKING:
    from pipeline.objectives import Objective
    from pipeline.planner import Workload

#: The precisions built when none are named, in report order.
DEFAULT_PRECISIONS = ("fp32", "int8-static", "int8-dynamic", "fp16")
#: "auto": every registered runtime whose package works on this machine (the host builds and checks
#: each runtime's builds, so what runs here is what can be offered)
DEFAULT_RUNTIMES = ("auto",)


@dataclass(frozen=True)
class DecisionOptions:
    """How a run's measurements become a decision: what to rank on and how to pick, the cost model's
    inputs, and a workload to plan for. Flat, so that ``edgeprof report`` can override any one field
    of what ``optimize`` stored (:meth:`merged`). None and () mean "not set": the defaults apply."""

    objectives: tuple[str, ...] = ()  # objective names or aliases (pipeline.objectives.ALIASES)
    rule: str = "auto"  # pipeline.recommend.RULES
    exclude_estimates: bool = False
    max_memory_mb: float | None = None
    electricity_usd_per_kwh: float | None = None
    pue: float | None = None
    amortisation_months: float | None = None
    purchase_usd: float | None = None
    rental_usd_per_h: float | None = None
    pricing: str = "auto"
    utilisation: float | None = None
    utilisation_summary: str | None = None  # a monitor-mode summary file (JSON with "utilisation")
    rate: str | None = None  # the workload, e.g. "600/min"
    p99_ms: float | None = None  # the workload's end-to-end p99; the run's SLA when None
    trace: str | None = None  # a recorded trace of arrival times (s), instead of Poisson arrivals
    peak_rate: str | None = None
    budget_usd_per_month: float | None = None
    plan_targets: tuple[str, ...] = ()  # targets to plan for; profiles not measured are projected
    max_delay_ms: tuple[float, ...] = ()  # batcher delays to try; () = none and a tenth of the p99
    targets_dirs: tuple[str, ...] = ()  # folders of the user's own target profiles

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DecisionOptions:
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in (data or {}).items() if k in known}
        return cls(**values)

    def merged(self, overrides: Mapping[str, Any]) -> DecisionOptions:
        """These options with the fields in ``overrides`` replaced (the flags a user gave)."""
        return DecisionOptions.from_json({**self.to_json(), **dict(overrides)})

    def cost_options(self) -> CostOptions:
        """The cost model's inputs; ValueError naming the flag for a bad value or summary file."""
        utilisation, origin = self.utilisation, "--utilisation"
        if utilisation is None and self.utilisation_summary:
            utilisation, origin = load_utilisation_summary(Path(self.utilisation_summary))
        load = None
        if self.rate is not None and utilisation is None:
            from pipeline.planner import parse_rate

            load = parse_rate(self.rate)
        return CostOptions(
            electricity_usd_per_kwh=self.electricity_usd_per_kwh,
            pue=self.pue,
            amortisation_months=self.amortisation_months,
            purchase_usd=self.purchase_usd,
            rental_usd_per_h=self.rental_usd_per_h,
            pricing=self.pricing,
            utilisation=utilisation,
            utilisation_origin=origin,
            load_rate_per_s=load,
            load_rate_origin=f"--rate {self.rate}",
        )

    def objective_list(self) -> tuple[Objective, ...]:
        from pipeline.objectives import DEFAULT_OBJECTIVES, parse_objectives

        return parse_objectives(self.objectives) if self.objectives else DEFAULT_OBJECTIVES

    def workload(self, sla_p99_ms: float | None) -> Workload | None:
        """The workload to plan for, or None when no rate or trace is given; ValueError when it
        has no p99 to meet."""
        if self.rate is None and self.trace is None:
            return None
        from pipeline.planner import Workload, load_trace, parse_rate

        p99 = self.p99_ms if self.p99_ms is not None else sla_p99_ms
        if p99 is None:
            raise ValueError("the planner needs the p99 to meet: pass --p99-ms (or run with --sla-p99-ms)")
        peak = parse_rate(self.peak_rate, "--peak-rate") if self.peak_rate else None
        common: dict[str, Any] = {"peak_rate_per_s": peak, "budget_usd_per_month": self.budget_usd_per_month}
        if self.trace is not None:
            return Workload.from_trace(load_trace(Path(self.trace)), p99, self.trace, **common)
        assert self.rate is not None
        return Workload(rate_per_s=parse_rate(self.rate), p99_ms=p99, **common)


@dataclass(frozen=True)
class RunRequest:
    model: Path
    out: Path
    calib: Path | None = None
    eval: Path | None = None
    broker: str | None = None  # None: start the embedded broker
    targets: tuple[str, ...] = ("local",)  # "local" and/or target profile ids (every online device of it)
    devices: tuple[str, ...] = ()  # device ids of running agents, each measuring every build
    batch_sizes: tuple[int, ...] = (1, 8)
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    sla_p99_ms: float | None = None
    max_accuracy_loss: float | None = None
    warmup_s: float = 0.5
    min_duration_s: float = 2.0
    min_queries: int = 50
    job_deadline_s: float = 600.0
    device_wait_s: float = 60.0
    host_key_file: Path | None = None  # the host's private key (signs jobs and acks); see main_job
    create_key: bool = False  # create host_key_file when it does not exist
    keyring_dir: Path | None = None  # enrolled device public keys (default ~/.config/edgeprof/devices)
    broker_credentials: Path | None = None  # username=/password= file (never stored in results.db)
    broker_ca: Path | None = None
    broker_cert: Path | None = None
    broker_key: Path | None = None
    serve_host: str = "127.0.0.1"
    advertise_host: str | None = None
    power: str | None = None  # the local agent's power source; None = best found
    runtime_options: dict[str, dict[str, object]] = field(default_factory=dict)  # runtime -> options
    prune: tuple[str, ...] = ("none",)  # the pruning axis: none, channels=0.3, magnitude=0.5, 2to4
    search: str = "default"  # or "wide": also the settings passes and runtimes declare worth trying
    metric: str = "auto"  # what accuracy loss measures: auto, top1, agreement, cosine
    build_jobs: int | None = None  # builds in parallel; None: one per CPU
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # --shape name=1x128: dynamic axes
    ort_providers: tuple[str, ...] = ("cpu",)  # ONNX Runtime execution providers, an axis: cpu, cuda, tensorrt
    power_modes: tuple[str, ...] = ()  # Jetson power modes, an axis ("current" = as the device is); () = no switching
    fixed_clocks: bool = False  # with power_modes: pin each mode's clocks at its maximum (jetson_clocks)
    pass_options: dict[str, dict[str, object]] = field(default_factory=dict)  # pass name -> config (trt_recipe)
    decision: DecisionOptions = field(default_factory=DecisionOptions)  # ranking, cost, workload
    iterations: int = 0  # queries per window instead of a duration (trtexec --iterations); 0 = by duration
    threads: int = 0  # CPU threads for every runtime; 0 = each runtime's option or default
    profile_layers: bool = False  # per-layer profile (top operators by time) after each window
    concurrency: tuple[int, ...] = (1,)  # queries in flight, swept at each batch size
    repeats: int = 1  # each build's windows measured this many times, round by round across builds

    @property
    def local(self) -> bool:
        return "local" in self.targets

    @property
    def profiles(self) -> tuple[str, ...]:
        """The target profile ids in ``targets``: their jobs are spread over every matching device."""
        return tuple(dict.fromkeys(t for t in self.targets if t != "local"))

    @property
    def remote_devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.devices))
