"""Every check on what the user gave, before anything is written: the first step of the main job.

The promise "bad input loses nothing and leaves nothing half-written" depends on the order: the
options, the model and the data are checked here, before the output folder is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.errors import ProtocolError
from agent.protocol import check_device_id
from calibration_data.loaders import Dataset
from pipeline.accuracy_loss import METRICS
from pipeline.errors import InputError
from pipeline.model_check import ModelInfo, inspect_model, load_bound_dataset
from pipeline.request import RunRequest


@dataclass(frozen=True)
class PreparedInputs:
    model: ModelInfo
    calib: Dataset | None
    eval: Dataset | None


def prepare_inputs(request: RunRequest) -> PreparedInputs:
    """Check the options, the model and the data; InputError with the problem and the fix."""
    check_options(request)
    model = inspect_model(request.model)
    _check_batch_axis(model, request.batch_sizes)
    _check_shapes(model, request.shapes)
    calib = load_bound_dataset(request.calib, model, "--calib") if request.calib else None
    evals = load_bound_dataset(request.eval, model, "--eval") if request.eval else None
    if evals is not None:
        _check_classifier(model, evals, request.eval)
        if request.metric == "top1" and evals.labels is None:
            raise InputError(f"--metric top1 needs labels: --eval {request.eval} has no 'labels' array")
    return PreparedInputs(model, calib, evals)


def check_options(request: RunRequest) -> None:
    if not request.batch_sizes or any(b < 1 for b in request.batch_sizes):
        raise InputError("--batch needs positive integers, for example --batch 1,8")
    if request.sla_p99_ms is not None and not request.sla_p99_ms > 0:
        raise InputError(f"--sla-p99-ms must be a positive number of milliseconds, not {request.sla_p99_ms}")
    if request.metric not in ("auto", *METRICS):
        raise InputError(f"--metric {request.metric}: choose auto, {', '.join(METRICS)}")
    if request.max_accuracy_loss is not None and not 0 <= request.max_accuracy_loss < 1:
        raise InputError(
            f"--max-accuracy-loss is an absolute fraction in [0, 1) (0.01 = 1 percentage point), "
            f"not {request.max_accuracy_loss}"
        )
    _check_out(request.out)
    _check_targets(request)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder: name a folder (it is created if missing)")
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out {out}: {parent} is a file, so the folder cannot be created")
            break


def _check_targets(request: RunRequest) -> None:
    remote = (*request.profiles, *request.remote_devices)
    for t in remote:
        try:
            check_device_id(t)
        except ProtocolError as exc:
            raise InputError(f"--targets/--devices: {exc}") from None
    if not remote:
        return
    if request.broker is None:
        raise InputError(
            f"--targets {','.join(remote)}: the embedded broker listens on 127.0.0.1 only, so other devices "
            "cannot reach it: run a broker they can reach (Mosquitto) and pass --broker mqtt://HOST:1883"
        )
    host = request.serve_host
    if host.startswith("127.") or host in ("localhost", "::1"):
        raise InputError(
            f"--targets {','.join(remote)}: devices cannot download artifacts from {host}: pass "
            "--serve-host 0.0.0.0 (or this machine's address) and --advertise-host with an address they reach"
        )
    if host in ("0.0.0.0", "::") and not request.advertise_host:
        raise InputError(
            f"--serve-host {host} listens everywhere but is no address to download from: "
            "pass --advertise-host with this machine's name or address as the devices see it"
        )


def _check_batch_axis(model: ModelInfo, batch_sizes: tuple[int, ...]) -> None:
    first = model.inputs[0].shape[0] if model.inputs and model.inputs[0].shape else None
    if isinstance(first, int) and any(b != first for b in batch_sizes):
        raise InputError(
            f"the model's batch axis is fixed to {first}, so --batch {','.join(map(str, batch_sizes))} cannot "
            f"run: pass --batch {first}, or export the model with a dynamic batch axis"
        )


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``input_ids=1x128`` -> ``("input_ids", (1, 128))``; InputError with the form otherwise."""
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d < 1 for d in shape):
        raise InputError(f"--shape {text}: write NAME=DIMS with positive sizes, batch first, e.g. input_ids=1x128")
    return name, shape


def _check_shapes(model: ModelInfo, shapes: dict[str, tuple[int, ...]]) -> None:
    """Each ``--shape`` names an input, has its rank, and keeps its fixed axes (batch aside)."""
    by_name = {t.name: t for t in model.inputs}
    for name, dims in shapes.items():
        spec = by_name.get(name)
        if spec is None:
            raise InputError(f"--shape {name}=…: the model has no input {name!r}; its inputs are {sorted(by_name)}")
        if len(dims) != len(spec.shape):
            raise InputError(
                f"--shape {name}={'x'.join(map(str, dims))}: the input has {len(spec.shape)} axes "
                f"({spec.describe()}), not {len(dims)}"
            )
        for axis, (want, have) in enumerate(zip(spec.shape[1:], dims[1:], strict=True), start=1):
            if isinstance(want, int) and want != have:
                raise InputError(f"--shape {name}: axis {axis} of {spec.describe()} is fixed to {want}, not {have}")


def _check_classifier(model: ModelInfo, data: Dataset, path: Path | None) -> None:
    """Labels are scored by top-1, which needs [batch, classes] outputs; without labels any output is
    compared with the FP32 outputs (agreement, or cosine for embeddings)."""
    if data.labels is None:
        return
    out = model.outputs[0] if model.outputs else None
    if out is None or len(out.shape) != 2:
        shape = f"[{', '.join(map(str, out.shape))}]" if out is not None else "none"
        raise InputError(
            f"--eval {path} has labels, which are scored by top-1 and need [batch, classes] logits, but the "
            f"model's first output is {shape}: drop the 'labels' array to measure fidelity to the FP32 outputs "
            "(cosine), or leave out --eval to measure speed and power only"
        )
    classes = out.shape[1]
    if data.labels is not None and isinstance(classes, int) and len(data.labels) and data.labels.max() >= classes:
        raise InputError(
            f"--eval {path}: labels go up to {int(data.labels.max())} but the model has {classes} classes: "
            "labels must be class indices 0..classes-1"
        )
