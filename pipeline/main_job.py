"""The main job as a short chain of stages: plan → build → dispatch → collect → rank → report.

Each stage is its own module and takes and returns typed values; this module only orders them and
owns the lifetimes (broker, MQTT host, agent, artifact server). Order matters for the promise "bad
input loses nothing and leaves nothing half-written": options, model, data, plan and broker are
checked before the output folder is touched; from then on every file is written atomically and the
results database commits each result before it is acknowledged.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from agent.protocol import local_device_id
from agent.signing import create_key, load_key
from pipeline.artifact_server import ArtifactServer
from pipeline.assign import assign, profile_power_mode_names, profile_runtime_names
from pipeline.broker import EmbeddedBroker, check_reachable
from pipeline.build_stage import build_variants
from pipeline.collect import collect
from pipeline.dispatch.base import Dispatcher
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.local import LocalAgent, LocalAgentDispatcher
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import DispatchError, InputError
from pipeline.export import write_outputs
from pipeline.inputs import PreparedInputs, prepare_inputs
from pipeline.jobs import make_jobs
from pipeline.plan import Plan, Skipped, plan_variants
from pipeline.reference import host_reference, host_top1, pack_eval, resolve_metric
from pipeline.request import RunRequest
from pipeline.results_db import ResultsDB
from pipeline.run_summary import run_meta, summary_for_run
from pipeline.store import ArtifactStore
from pipeline.summary import RunSummary


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while the devices measured: what arrived is stored and the report in ``out`` is saved."""

    def __init__(self, out: Path) -> None:
        super().__init__(str(out))
        self.out = out


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


def resolve_runtimes(asked: tuple[str, ...]) -> tuple[str, ...]:
    """``("auto",)`` -> the runtimes installed here, in registry order; anything else as asked."""
    if tuple(asked) != ("auto",):
        return tuple(asked)
    from agent.runtimes import installed_runtimes

    return tuple(installed_runtimes()) or ("onnxruntime",)


def plan_request(request: RunRequest, inputs: PreparedInputs) -> Plan:
    """The plan for ``request``; InputError when a planned build needs data the user did not give."""
    plan = plan_variants(
        request.precisions,
        resolve_runtimes(request.runtimes),
        runtime_options=request.runtime_options,
        prune=request.prune,
        search=request.search,
        batch_sizes=request.batch_sizes,
        pass_options=request.pass_options,
        ort_providers=request.ort_providers,
        power_modes=request.power_modes or ("",),
    )
    if inputs.calib is None and plan.needs_calibration:
        names = ", ".join(v.id for v in plan.needs_calibration)
        raise InputError(
            f"{names} need(s) calibration data: pass --calib FILE.npz (a few hundred typical inputs), "
            "or leave their precision out of --precisions"
        )
    if not plan.variants:
        raise InputError("nothing to build: " + "; ".join(f"{s.variant}: {s.reason}" for s in plan.skipped))
    return plan


def run_main_job(request: RunRequest, console: Console) -> RunSummary:
    inputs = prepare_inputs(request)
    plan = plan_request(request, inputs)
    _print_skipped(plan.skipped, console)
    with ExitStack() as stack:
        broker_url = request.broker
        if broker_url is None:
            broker = EmbeddedBroker().start()
            stack.callback(broker.stop)
            broker_url = broker.url
            console.print(f"[dim]embedded MQTT broker (amqtt) on {broker_url}[/dim]")
        else:
            check_reachable(broker_url)

        # From here on the output folder is written.
        out = request.out
        out.mkdir(parents=True, exist_ok=True)
        db = ResultsDB(out / "results.db")
        stack.callback(db.close)
        key_file = request.key_file
        key = load_key(key_file) if key_file.exists() else create_key(key_file)
        host = MQTTHost(broker_url, db, key)
        host.connect()
        stack.callback(host.close)  # closed before the database: no late result reaches a closed DB
        dispatcher = stack.enter_context(_dispatcher(request, host, broker_url))  # starts the agent now

        store = ArtifactStore(out / "artifacts")
        reference, eval_ref, top1 = None, None, None
        if inputs.eval is not None:
            reference = host_reference(inputs.model.path, inputs.eval)
            top1 = host_top1(reference, inputs.eval)
            eval_ref = pack_eval(store, inputs.eval, reference)
        metric = resolve_metric(request.metric, inputs.eval, reference)
        built, build_failures = build_variants(
            plan, inputs, reference, metric, request.max_accuracy_loss, store, console, jobs=request.build_jobs
        )
        server = ArtifactServer(store, bind=request.serve_host, advertise=request.advertise_host).start()
        stack.callback(server.stop)

        console.print(f"waiting for device(s) {', '.join(dispatcher.device_ids())} on {broker_url} …")
        devices = dispatcher.wait_ready(request.device_wait_s)
        assignments, skipped = assign(built, devices, profile_runtime_names(), profile_power_mode_names())
        _print_skipped(skipped, console)
        run_id = new_run_id()
        db.add_run(run_id, inputs.model.sha256, run_meta(request, inputs, built, top1, build_failures, skipped, metric))
        jobs = make_jobs(request, run_id, assignments, eval_ref, server, key)
        db.add_jobs(jobs)  # results are accepted only for jobs this host issued
        for job in jobs:
            dispatcher.submit(job)
        per_device = max([sum(1 for j in jobs if j.device_id == d) for d in devices] or [0])
        try:
            collected = collect(dispatcher, jobs, per_device * request.job_deadline_s + request.device_wait_s, console)
        except KeyboardInterrupt:
            _save(out, db, run_id, host, console, interrupted=True)
            raise RunInterrupted(out) from None
        summary = _save(out, db, run_id, host, console)
        if not collected.complete:
            missing = ", ".join(f"{j.variant_id}@{j.device_id}" for j in collected.pending)
            raise DispatchError(
                f"no result within the deadline for {missing}: is the device online and its agent running? "
                "The report covers the results that did arrive and names the missing ones; the device keeps "
                "their results in its outbox until a host acknowledges them"
            )
        return summary


def _dispatcher(request: RunRequest, host: MQTTHost, broker_url: str) -> Dispatcher:
    if not request.local:
        return NamedDevices(host, request.remote_devices)
    out = request.out
    agent = LocalAgent(
        broker_url, local_device_id(), out / "agent-state", request.key_file, out / "agent.log", power=request.power
    )
    return LocalAgentDispatcher(host, agent, also=request.remote_devices)


def _save(
    out: Path, db: ResultsDB, run_id: str, host: MQTTHost, console: Console, interrupted: bool = False
) -> RunSummary:
    summary = summary_for_run(db, run_id, host.devices_snapshot(), interrupted=interrupted)
    write_outputs(out, summary, console)
    return summary


def _print_skipped(skipped: list[Skipped] | tuple[Skipped, ...], console: Console) -> None:
    for s in skipped:
        where = f" on {s.device_id}" if s.device_id else ""
        console.print(f"[yellow]skipped {escape(s.variant)}{escape(where)}:[/yellow] {escape(s.reason)}")
