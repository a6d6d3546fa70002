"""What the user asked the main job for: one typed value the stages read, built by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: The precisions built when none are named, in report order.
DEFAULT_PRECISIONS = ("fp32", "int8-static", "int8-dynamic", "fp16")
#: "auto": every registered runtime whose package works on this machine (the host builds and checks
#: each runtime's builds, so what runs here is what can be offered)
DEFAULT_RUNTIMES = ("auto",)
DEFAULT_KEY_FILE = Path.home() / ".config" / "edgeprof" / "job.key"


@dataclass(frozen=True)
class RunRequest:
    model: Path
    out: Path
    calib: Path | None = None
    eval: Path | None = None
    broker: str | None = None  # None: start the embedded broker
    targets: tuple[str, ...] = ("local",)
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
    job_key_file: Path | None = None
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

    @property
    def local(self) -> bool:
        return "local" in self.targets

    @property
    def remote_devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t in self.targets if t != "local"))

    @property
    def key_file(self) -> Path:
        return self.job_key_file or DEFAULT_KEY_FILE
