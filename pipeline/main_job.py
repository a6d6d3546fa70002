"""The main job as a short chain of stages: plan → build → dispatch → collect → rank → report.

Each stage is its own module and takes and returns typed values; this module only orders them and
owns the lifetimes (broker, MQTT host, agent, artifact server). Order matters for the promise "bad
input loses nothing and leaves nothing half-written": options, model, data, plan and broker are
checked before the output folder is touched; from then on every file is written atomically and the
results database commits each result before it is acknowledged.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from agent.errors import ProtocolError
from agent.mqtt_client import BrokerSecurity, broker_security
from agent.protocol import BenchmarkJob, local_device_id, parse_broker_url
from agent.signing import SigningKey, load_private_key, public_key_path, sign_job
from pipeline.artifact_server import ArtifactServer
from pipeline.assign import assign, profile_power_mode_names, profile_runtime_names
from pipeline.broker import EmbeddedBroker, check_reachable
from pipeline.build_stage import build_variants
from pipeline.collect import Collected, collect
from pipeline.dispatch.base import Dispatcher
from pipeline.dispatch.devices import NamedDevices
from pipeline.dispatch.fleet import FleetDispatcher
from pipeline.dispatch.keyring import DEFAULT_HOST_KEY, DEFAULT_KEYRING, Keyring, load_host_key
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


def check_profiles(request: RunRequest) -> None:
    """InputError when ``--targets`` names something that is not a target profile id."""
    if not request.profiles:
        return
    known = profile_runtime_names()
    unknown = [p for p in request.profiles if p not in known]
    if unknown:
        raise InputError(
            f"--targets {','.join(unknown)}: not a target profile id (`edgeprof targets ls` lists them); "
            "--targets takes 'local' and profile ids, and spreads the jobs over every online device of a profile. "
            f"To name devices, use --devices {','.join(unknown)}"
        )


def host_key_path(request: RunRequest) -> tuple[Path, bool]:
    """Where the host's private key is and whether it may be created.

    Named with --host-key: it must exist, unless --create-key (a mistyped path must not mint a key no
    device trusts). Not named, for a run with only the local agent: the output folder's own key,
    created on first use. Otherwise ~/.config/edgeprof/host.key, which must exist unless --create-key."""
    if request.host_key_file is not None:
        return request.host_key_file, request.create_key
    if not request.profiles and not request.remote_devices:
        return request.out / "keys" / "host.key", True
    return DEFAULT_HOST_KEY, request.create_key


def security_for(request: RunRequest, broker_url: str) -> BrokerSecurity:
    try:
        return broker_security(
            parse_broker_url(broker_url),
            request.broker_credentials,
            request.broker_ca,
            request.broker_cert,
            request.broker_key,
        )
    except ProtocolError as exc:
        raise InputError(str(exc)) from None


def run_main_job(request: RunRequest, console: Console) -> RunSummary:
    inputs = prepare_inputs(request)
    check_profiles(request)
    plan = plan_request(request, inputs)
    _print_skipped(plan.skipped, console)
    key_path, may_create = host_key_path(request)
    with ExitStack() as stack:
        broker_url = request.broker
        if broker_url is None:
            broker = EmbeddedBroker().start()
            stack.callback(broker.stop)
            broker_url = broker.url
            console.print(f"[dim]embedded MQTT broker (amqtt) on {broker_url}[/dim]")
        else:
            check_reachable(broker_url)
        if not may_create and not key_path.exists():
            load_host_key(key_path, create=False)  # the error names the file and the fix; nothing written yet
        security = security_for(request, broker_url)  # a missing TLS or credentials file: nothing written yet

        # From here on the output folder is written.
        out = request.out
        out.mkdir(parents=True, exist_ok=True)
        db = ResultsDB(out / "results.db")
        stack.callback(db.close)
        key = load_host_key(key_path, create=may_create)
        keyring = Keyring(request.keyring_dir or DEFAULT_KEYRING)
        host = MQTTHost(broker_url, db, key, keyring, security)
        host.connect()
        stack.callback(host.close)  # closed before the database: no late result reaches a closed DB
        dispatcher = stack.enter_context(_dispatcher(request, host, broker_url, key, keyring, security))

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
        assignments = dispatcher.spread(assignments)
        _print_skipped(skipped, console)
        run_id = new_run_id()
        db.add_run(run_id, inputs.model.sha256, run_meta(request, inputs, built, top1, build_failures, skipped, metric))
        jobs = make_jobs(request, run_id, assignments, eval_ref, server, key)
        db.add_jobs(jobs)  # results are accepted only for jobs this host issued
        for job in jobs:
            dispatcher.submit(job)
        per_device = max([sum(1 for j in jobs if j.device_id == d) for d in devices] or [0])
        retry = _retrier(db, dispatcher, key, request)
        try:
            wait_s = per_device * request.job_deadline_s + request.device_wait_s
            collected = collect(dispatcher, jobs, wait_s, console, retry=retry)
        except KeyboardInterrupt:
            _save(out, db, run_id, host, console, interrupted=True)
            raise RunInterrupted(out) from None
        summary = _save(out, db, run_id, host, console)
        _raise_unfinished(collected)
        return summary


def _retrier(
    db: ResultsDB, dispatcher: Dispatcher, key: SigningKey, request: RunRequest
) -> Callable[[BenchmarkJob, str], BenchmarkJob]:
    """Issue a copy of a timed-out job for another device: new id, new times, signed, recorded, sent."""

    def retry(job: BenchmarkJob, device_id: str) -> BenchmarkJob:
        now = time.time()
        again = dataclasses.replace(
            job,
            job_id=uuid.uuid4().hex,
            device_id=device_id,
            issued_at=now,
            expires_at=now + request.device_wait_s + request.job_deadline_s,
            signature="",
        )
        again = sign_job(again, key)
        db.add_jobs([again], retry_of=job.job_id)
        dispatcher.submit(again)
        return again

    return retry


def _raise_unfinished(collected: Collected) -> None:
    problems = [f"{e.job.variant_id}@{e.job.device_id}: {e.state}: {e.reason}" for e in collected.unanswered]
    problems += [f"{j.variant_id}@{j.device_id}: no result within the deadline" for j in collected.pending]
    if problems:
        raise DispatchError(
            "; ".join(problems)
            + ". The report covers the results that did arrive and names the missing ones; a device keeps "
            "its results in its outbox until a host acknowledges them"
        )


def _dispatcher(
    request: RunRequest, host: MQTTHost, broker_url: str, key: SigningKey, keyring: Keyring, security: BrokerSecurity
) -> Dispatcher:
    if request.profiles:
        agent = _local_agent(request, broker_url, key, keyring, security) if request.local else None
        return FleetDispatcher(host, request.profiles, request.remote_devices, agent=agent)
    if not request.local:
        return NamedDevices(host, request.remote_devices)
    agent = _local_agent(request, broker_url, key, keyring, security)
    return LocalAgentDispatcher(host, agent, also=request.remote_devices)


def _local_agent(
    request: RunRequest, broker_url: str, key: SigningKey, keyring: Keyring, security: BrokerSecurity
) -> LocalAgent:
    """The run's own agent, enrolled both ways: its key in the run folder, trusted by this host for
    this run, and this host's public key given to it."""
    state = request.out / "agent-state"
    device_id = local_device_id()
    device_key = load_private_key(state / "device.key", create=True)
    keyring.add(device_id, device_key.public)
    host_pub = public_key_path(key.path) if key.path is not None else state / "host.pub"
    if not host_pub.exists():
        from agent.signing import write_public_key

        write_public_key(key.public, host_pub)
    return LocalAgent(
        broker_url,
        device_id,
        state,
        state / "device.key",
        host_pub,
        request.out / "agent.log",
        power=request.power,
        security=security,
    )


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
