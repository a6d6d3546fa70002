"""What the user asked the main job for: one typed value the stages read, built by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: The precisions built when none are named, in report order.
DEFAULT_PRECISIONS = ("fp32", "int8-static", "int8-dynamic", "fp16")
DEFAULT_RUNTIMES = ("onnxruntime",)
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
    metric: str = "auto"  # what accuracy loss measures: auto, top1, agreement, cosine
    iterations: int = 0  # queries per window instead of a duration (trtexec --iterations); 0 = by duration
    threads: int = 0  # CPU threads for every runtime; 0 = each runtime's option or default
    profile_layers: bool = False  # per-layer profile (top operators by time) after each window
    concurrency: tuple[int, ...] = (1,)  # queries in flight, swept at each batch size

    @property
    def local(self) -> bool:
        return "local" in self.targets

    @property
    def remote_devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t in self.targets if t != "local"))

    @property
    def key_file(self) -> Path:
        return self.job_key_file or DEFAULT_KEY_FILE
