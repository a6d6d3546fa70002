"""The main job: model in, variants built, measured by agents over MQTT, ranked report out.

Order matters for the promise "bad input loses nothing and leaves nothing half-written": the model,
the data and the broker are checked before the output folder is touched; from then on every file
is written atomically and the results DB commits per result.
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from agent.errors import ProtocolError
from agent.protocol import (
    ArtifactRef,
    BenchmarkJob,
    BenchmarkResult,
    check_device_id,
    decode,
    local_device_id,
)
from agent.signing import create_key, load_key, sign_job
from calibration_data.loaders import Dataset
from pipeline.artifact_server import ArtifactServer
from pipeline.broker import EmbeddedBroker
from pipeline.dispatch.local_agent import LocalAgent
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError, InputError, PassError
from pipeline.model_check import ModelInfo, inspect_model, load_bound_dataset
from pipeline.records import build_document, build_records
from pipeline.report.html import render_html
from pipeline.report.terminal import render_table
from pipeline.results_db import ResultsDB
from pipeline.store import ArtifactStore, StoredArtifact
from pipeline.variants import DEFAULT_PRECISIONS, VariantBuilder, plan_variants

DEFAULT_KEY_FILE = Path.home() / ".config" / "edgeprof" / "job.key"


@dataclass
class OptimizeOptions:
    model: Path
    out: Path
    calib: Path | None = None
    eval: Path | None = None
    broker: str | None = None  # None: start the embedded broker
    targets: list[str] = field(default_factory=lambda: ["local"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8])
    precisions: list[str] = field(default_factory=lambda: list(DEFAULT_PRECISIONS))
    runtimes: list[str] = field(default_factory=lambda: ["onnxruntime"])
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


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class PreparedInputs:
    model: ModelInfo
    calib: Dataset | None
    eval: Dataset | None


def prepare_inputs(opts: OptimizeOptions) -> PreparedInputs:
    """Every check on the user's input, before anything is written."""
    if not opts.batch_sizes or any(b < 1 for b in opts.batch_sizes):
        raise InputError("--batch needs positive integers, for example --batch 1,8")
    if opts.sla_p99_ms is not None and not opts.sla_p99_ms > 0:
        raise InputError(f"--sla-p99-ms must be a positive number of milliseconds, not {opts.sla_p99_ms}")
    if opts.max_accuracy_loss is not None and not 0 <= opts.max_accuracy_loss < 1:
        raise InputError(
            f"--max-accuracy-loss is an absolute fraction in [0, 1) (0.01 = 1 percentage point), "
            f"not {opts.max_accuracy_loss}"
        )
    try:
        plan_variants(opts.precisions, opts.runtimes)
    except ValueError as exc:
        raise InputError(f"--precisions: {exc}") from None
    _check_targets(opts)
    model = inspect_model(opts.model)
    _check_batch_axis(model, opts.batch_sizes)
    calib = load_bound_dataset(opts.calib, model, "--calib") if opts.calib else None
    evals = load_bound_dataset(opts.eval, model, "--eval") if opts.eval else None
    if evals is not None:
        _check_classifier(model, evals, opts.eval)
    if calib is None and "int8-static" in opts.precisions:
        raise InputError(
            "int8-static needs calibration data: pass --calib FILE.npz (a few hundred typical inputs), "
            "or leave int8-static out of --precisions"
        )
    return PreparedInputs(model, calib, evals)


def _check_targets(opts: OptimizeOptions) -> None:
    remote = [t for t in opts.targets if t != "local"]
    for t in remote:
        try:
            check_device_id(t)
        except ProtocolError as exc:
            raise InputError(f"--targets: {exc}") from None
    if not remote:
        return
    if opts.broker is None:
        raise InputError(
            f"--targets {','.join(remote)}: the embedded broker listens on 127.0.0.1 only, so other devices "
            "cannot reach it: run a broker they can reach (Mosquitto) and pass --broker mqtt://HOST:1883"
        )
    if opts.serve_host.startswith("127.") or opts.serve_host in ("localhost", "::1"):
        raise InputError(
            f"--targets {','.join(remote)}: devices cannot download artifacts from {opts.serve_host}: pass "
            "--serve-host 0.0.0.0 (or this machine's address) and --advertise-host with an address they reach"
        )
    if opts.serve_host in ("0.0.0.0", "::") and not opts.advertise_host:
        raise InputError(
            f"--serve-host {opts.serve_host} listens everywhere but is no address to download from: "
            "pass --advertise-host with this machine's name or address as the devices see it"
        )


def _check_batch_axis(model: ModelInfo, batch_sizes: list[int]) -> None:
    first = model.inputs[0].shape[0] if model.inputs and model.inputs[0].shape else None
    if isinstance(first, int) and any(b != first for b in batch_sizes):
        raise InputError(
            f"the model's batch axis is fixed to {first}, so --batch {','.join(map(str, batch_sizes))} cannot "
            f"run: pass --batch {first}, or export the model with a dynamic batch axis"
        )


def _check_classifier(model: ModelInfo, data: Dataset, path: Path | None) -> None:
    out = model.outputs[0] if model.outputs else None
    if out is None or len(out.shape) != 2:
        shape = f"[{', '.join(map(str, out.shape))}]" if out is not None else "none"
        raise InputError(
            f"accuracy is measured on classifiers: the model's first output must be [batch, classes] "
            f"logits, but it is {shape}; leave out --eval to measure speed and power only"
        )
    classes = out.shape[1]
    if data.labels is not None and isinstance(classes, int) and len(data.labels) and data.labels.max() >= classes:
        raise InputError(
            f"--eval {path}: labels go up to {int(data.labels.max())} but the model has {classes} classes: "
            "labels must be class indices 0..classes-1"
        )


def host_reference(model_path: Path, data: Dataset, batch: int = 32) -> np.ndarray:
    """FP32 outputs of the original model on the host (ORT CPU): the fidelity reference."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0].shape[0]
    if isinstance(first, int) and first > 0:
        batch = first
    outs = []
    for start in range(0, data.num_samples, batch):
        # a full batch each time, wrapping at the end: a fixed batch axis accepts nothing else
        idx = np.arange(start, start + batch) % data.num_samples
        size = min(batch, data.num_samples - start)
        outs.append(sess.run(None, {k: v[idx] for k, v in data.inputs.items()})[0][:size])
    return np.concatenate(outs, axis=0)


def pack_eval(store: ArtifactStore, data: Dataset, reference: np.ndarray) -> StoredArtifact:
    arrays = {f"input:{k}": v for k, v in data.inputs.items()}
    arrays["reference:0"] = reference
    if data.labels is not None:
        arrays["labels"] = data.labels
    with tempfile.TemporaryDirectory(prefix="edgeprof-eval-") as tmp:
        path = Path(tmp) / "eval.npz"
        np.savez(path, **arrays)
        return store.put(path, "application/x-npz")


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


def optimize(opts: OptimizeOptions, console: Console) -> dict[str, Any]:
    prepared = prepare_inputs(opts)
    with ExitStack() as stack:
        broker_url = opts.broker
        if broker_url is None:
            broker = EmbeddedBroker().start()
            stack.callback(broker.stop)
            broker_url = broker.url
            console.print(f"[dim]embedded MQTT broker (amqtt) on {broker_url}[/dim]")
        host = MQTTHost(broker_url, db=None)
        host.connect()
        stack.callback(host.close)

        # From here on the output folder is written.
        out = opts.out
        out.mkdir(parents=True, exist_ok=True)
        db = ResultsDB(out / "results.db")
        stack.callback(_detach_and_close, host, db)
        host.db = db
        store = ArtifactStore(out / "artifacts")
        run_id = new_run_id()

        built, failed = _build_variants(opts, prepared, store, console)
        eval_ref, host_top1 = None, None
        if prepared.eval is not None:
            reference = host_reference(prepared.model.path, prepared.eval)
            if prepared.eval.labels is not None:
                host_top1 = float((reference.argmax(axis=1) == prepared.eval.labels).mean())
            eval_ref = pack_eval(store, prepared.eval, reference)

        server = ArtifactServer(store, bind=opts.serve_host, advertise=opts.advertise_host).start()
        stack.callback(server.stop)
        key_file = opts.job_key_file or DEFAULT_KEY_FILE
        key = load_key(key_file) if key_file.exists() else create_key(key_file)
        host.key = key

        devices = list(dict.fromkeys(t for t in opts.targets if t != "local"))
        agent = None
        if "local" in opts.targets:
            local_id = local_device_id()
            agent = LocalAgent(
                broker_url, local_id, out / "agent-state", key_file, out / "agent.log", power=opts.power
            ).start()
            stack.callback(agent.stop)
            devices.insert(0, local_id)
        console.print(f"waiting for device(s) {', '.join(devices)} on {broker_url} …")
        _wait_devices(host, devices, opts.device_wait_s, agent)

        run_meta = {
            "model": prepared.model.to_json(),
            "eval": _eval_info(opts, prepared),
            "artifacts": {vid: {"sha256": a.sha256, "size_bytes": a.size_bytes} for vid, (_s, a) in built.items()},
            "host_top1": host_top1,
            "sla_p99_ms": opts.sla_p99_ms,
            "max_accuracy_loss": opts.max_accuracy_loss,
            "failed": failed,
            "options": {k: str(v) for k, v in asdict(opts).items()},
        }
        db.add_run(run_id, prepared.model.sha256, run_meta)
        jobs = _make_jobs(opts, run_id, built, devices, eval_ref, server, key)
        db.add_jobs(jobs)  # results are accepted only for jobs this host issued
        for job in jobs:
            host.send_job(job)
        try:
            _collect(host, jobs, opts, agent, console)
        except DispatchError:
            if db.results_for_run(run_id):
                _write_outputs(out, document_for_run(db, run_id, host), console)
            raise
        doc = document_for_run(db, run_id, host)
        _write_outputs(out, doc, console)
        return doc


def _detach_and_close(host: MQTTHost, db: ResultsDB) -> None:
    """Close the MQTT side before the DB, so a late result cannot reach a closed database."""
    host.close()
    host.db = None
    db.close()


def _eval_info(opts: OptimizeOptions, prepared: PreparedInputs) -> dict[str, Any]:
    if prepared.eval is None:
        return {"source": None, "samples": 0, "has_labels": False}
    return {
        "source": str(opts.eval),
        "samples": prepared.eval.num_samples,
        "has_labels": prepared.eval.labels is not None,
    }


def _build_variants(
    opts: OptimizeOptions, prepared: PreparedInputs, store: ArtifactStore, console: Console
) -> tuple[dict[str, tuple[Any, StoredArtifact]], list[dict[str, str]]]:
    specs = plan_variants(opts.precisions, opts.runtimes)
    source = store.put(prepared.model.path, "model/onnx")
    builder = VariantBuilder(store, prepared.calib.inputs if prepared.calib else None)
    built: dict[str, tuple[Any, StoredArtifact]] = {}
    failed: list[dict[str, str]] = []
    with _progress(console) as progress:
        task = progress.add_task("building variants", total=len(specs))
        for spec in specs:

            def step(name: str, spec_id: str = spec.id) -> None:
                progress.update(task, description=f"building {spec_id}: {name}")

            try:
                built[spec.id] = (spec, builder.build(spec, source, on_step=step))
            except PassError as exc:
                failed.append({"variant_id": spec.id, "device_id": "host", "error": str(exc)})
                console.print(f"[yellow]variant {spec.id} not built:[/yellow] {escape(str(exc))}")
            progress.advance(task)
        progress.update(task, description=f"built {len(built)} variant(s)")
    if not built:
        raise PassError("no variant could be built; see the messages above")
    return built, failed


def _wait_devices(host: MQTTHost, devices: list[str], timeout_s: float, agent: LocalAgent | None) -> None:
    end = time.monotonic() + timeout_s
    while True:
        if agent is not None:
            agent.check_alive()
        try:
            host.wait_for_devices(devices, timeout_s=min(1.0, max(0.0, end - time.monotonic())))
            return
        except DispatchError:
            if time.monotonic() >= end:
                raise


def _make_jobs(
    opts: OptimizeOptions,
    run_id: str,
    built: dict[str, tuple[Any, StoredArtifact]],
    devices: list[str],
    eval_ref: StoredArtifact | None,
    server: ArtifactServer,
    key: bytes,
) -> list[BenchmarkJob]:
    now = time.time()
    eval_data = (
        ArtifactRef(eval_ref.sha256, server.url_for(eval_ref.sha256), eval_ref.size_bytes, eval_ref.media_type)
        if eval_ref
        else None
    )
    jobs = []
    for device in devices:
        for n, (variant_id, (spec, art)) in enumerate(built.items()):
            job = BenchmarkJob(
                job_id=uuid.uuid4().hex,
                run_id=run_id,
                variant_id=variant_id,
                device_id=device,
                issued_at=now,
                # a device works through its queue in order: later jobs get proportionally longer
                expires_at=now + opts.device_wait_s + (n + 1) * opts.job_deadline_s,
                model=ArtifactRef(art.sha256, server.url_for(art.sha256), art.size_bytes, art.media_type),
                runtime=spec.runtime,
                precision=spec.precision,
                batch_sizes=list(opts.batch_sizes),
                eval_data=eval_data,
                warmup_s=opts.warmup_s,
                min_duration_s=opts.min_duration_s,
                min_queries=opts.min_queries,
                sla_p99_ms=opts.sla_p99_ms,
                deadline_s=opts.job_deadline_s,
            )
            jobs.append(sign_job(job, key))
    return jobs


def _collect(
    host: MQTTHost,
    jobs: list[BenchmarkJob],
    opts: OptimizeOptions,
    agent: LocalAgent | None,
    console: Console,
) -> None:
    pending = {j.job_id: j for j in jobs}
    per_device: dict[str, int] = {}
    for j in jobs:
        per_device[j.device_id] = per_device.get(j.device_id, 0) + 1
    deadline = time.monotonic() + max(per_device.values()) * opts.job_deadline_s + opts.device_wait_s
    online = {d: True for d in per_device}
    with _progress(console) as progress:
        task = progress.add_task("measuring on device(s)", total=len(jobs))
        while pending:
            if agent is not None:
                agent.check_alive()
            for device, was_online in online.items():
                status = host.devices.get(device)
                now_online = status is not None and status.state != "offline"
                if now_online != was_online:
                    online[device] = now_online
                    progress.console.print(
                        f"  [yellow]{escape(device)} went offline[/yellow]: its jobs stay queued on it and its "
                        "results in its outbox; waiting for it to come back (Ctrl-C keeps what has arrived)"
                        if not now_online
                        else f"  {escape(device)} is back online"
                    )
            if time.monotonic() > deadline:
                missing = ", ".join(f"{j.variant_id}@{j.device_id}" for j in pending.values())
                raise DispatchError(
                    f"no result within the deadline for {missing}: is the device online and its agent running? "
                    "The report covers the results that did arrive; the device keeps the missing ones "
                    "in its outbox until a host acknowledges them"
                )
            try:
                result = host.results.get(timeout=0.5)
            except queue.Empty:
                continue
            job = pending.pop(result.job_id, None)
            if job is None:
                continue  # a late result of an earlier run: stored, not waited for
            mark = "[green]ok[/green]" if result.status == "ok" else f"[red]failed[/red]: {escape(result.error)}"
            progress.console.print(f"  {escape(result.variant_id)} on {escape(result.device_id)}: {mark}")
            progress.advance(task)


def document_for_run(db: ResultsDB, run_id: str, host: MQTTHost | None = None) -> dict[str, Any]:
    """Rebuild the results document of a run from what the DB holds."""
    meta = db.run_meta(run_id)
    results = [decode(BenchmarkResult, p) for p in db.results_for_run(run_id)]
    devices = db.devices()
    if host is not None:
        devices.update(host.devices)
    seen_devices = {r.device_id for r in results}
    records, failed = build_records(results, meta["artifacts"], devices, meta.get("host_top1"))
    return build_document(
        run_id=run_id,
        model=meta["model"],
        eval_info=meta["eval"],
        records=records,
        failed=list(meta.get("failed", [])) + failed,
        devices={k: v for k, v in devices.items() if k in seen_devices},
        sla_p99_ms=meta.get("sla_p99_ms"),
        max_accuracy_loss_abs=meta.get("max_accuracy_loss"),
    )


def _write_outputs(out: Path, doc: dict[str, Any], console: Console) -> None:
    write_atomic(out / "results.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    write_atomic(out / "report.html", render_html(doc))
    render_table(doc, console)
    console.print(f"\nwrote {out / 'report.html'} and {out / 'results.json'} (database: {out / 'results.db'})")
