"""``edgeprof optimize`` and ``edgeprof demo``: the main job from the command line."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from agent.power import SENSORS
from pipeline import cli_decision as d
from pipeline.cli_state import state
from pipeline.console import make_console
from pipeline.request import DEFAULT_PRECISIONS, DEFAULT_RUNTIMES


def _csv_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{flag} takes comma-separated integers, for example 1,8") from None
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(f"{flag} takes positive integers, for example 1,8")
    return values


def _from_spec(ctx: typer.Context, path: Path) -> dict[str, Any]:
    """The spec file's values for the options the command line left at their defaults."""
    from pipeline.errors import InputError
    from pipeline.spec_file import load_spec

    try:
        values = load_spec(path)
    except InputError as exc:
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    return {k: v for k, v in values.items() if ctx.get_parameter_source(k).name == "DEFAULT"}


def _shapes(texts: list[str]) -> dict[str, tuple[int, ...]]:
    from pipeline.errors import InputError
    from pipeline.inputs import parse_shape

    try:
        return dict(parse_shape(t) for t in texts)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _run(request: object) -> None:
    from agent.errors import AgentError
    from pipeline.errors import PipelineError
    from pipeline.main_job import RunInterrupted, run_main_job

    console = make_console()
    try:
        run_main_job(request, console)  # type: ignore[arg-type]
    except (PipelineError, AgentError) as exc:
        if state["debug"]:
            raise
        typer.echo(f"edgeprof: error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        if isinstance(exc, RunInterrupted):
            out = exc.out
            typer.echo(
                f"edgeprof: interrupted; the results that arrived are kept in {out / 'results.db'}, and "
                f"{out / 'report.html'} names the jobs that did not report; `edgeprof report {out}` rebuilds "
                "it once their devices have sent them",
                err=True,
            )
        else:
            typer.echo("edgeprof: interrupted before any job was sent to a device: nothing was measured", err=True)
        raise typer.Exit(130) from None


#: The local agent's power sources, from the agent's own registry: a sensor added there is offered here.
PowerSource = enum.Enum("PowerSource", {name: name for name in SENSORS}, type=str)

_BROKER_HELP = "MQTT broker URL (mqtt://host:port, mqtts://…). Default: start an embedded broker on 127.0.0.1."
_TARGETS_HELP = (
    "Where to measure: 'local' (an agent started here) and/or target profile ids (`edgeprof targets ls`): each "
    "build once per profile, spread over every online device announcing it. Default: local, unless --devices is given."
)
_DEVICES_HELP = "Device ids of running agents, comma-separated: each measures every build."
MAX_REPEATS = 50
#: The demo measures each build twice: the least that gives an interval (min..max, 50% coverage), at
#: about twice the measuring time of one round, which is most of the demo's 25-50 s on an idle 2-core
#: machine (scripts/bench/demo_wall_time.md); three rounds would near the 5-minute limit on a busy one.
DEMO_REPEATS = 2
_REPEATS_HELP = (
    "Measure every build's windows N times, round by round across builds (interleaved), and rank on the medians: "
    "builds whose intervals for the median overlap are tied, the tie to less accuracy loss, then the lower p99. "
    "Costs N times the measuring time (each round is a whole job: download from cache, load, warm-up, windows, "
    "accuracy). Interval: min..max for N<=5 (N=2: 50% coverage, N=3: 75%), a 95% order-statistic interval from N=6."
)


def optimize(
    ctx: typer.Context,
    model: Path = typer.Argument(
        ..., metavar="MODEL", help="The ONNX model to optimise (a classifier: outputs are logits)."
    ),
    calib: Path | None = typer.Option(
        None, help="Calibration data for INT8: .npz with one array per model input (or .npy for one input)."
    ),
    eval: Path | None = typer.Option(  # noqa: A002 - the flag is --eval
        None,
        help="Evaluation data: .npz with arrays named by the model's inputs and an optional 'labels' array.",
    ),
    out: Path = typer.Option(Path("edgeprof-out"), help="Output folder: report.html, results.json, results.db."),
    broker: str | None = typer.Option(None, metavar="URL", help=_BROKER_HELP),
    targets: str | None = typer.Option(None, metavar="IDS", help=_TARGETS_HELP),
    devices: str = typer.Option("", metavar="IDS", help=_DEVICES_HELP),
    batch: str = typer.Option("1,8", metavar="SIZES", help="Batch sizes to sweep, comma-separated."),
    precisions: str = typer.Option(
        ",".join(DEFAULT_PRECISIONS), metavar="NAMES", help="Precisions to build, comma-separated."
    ),
    runtimes: str = typer.Option(
        ",".join(DEFAULT_RUNTIMES), metavar="NAMES", help="Runtimes to build for, comma-separated."
    ),
    prune: str = typer.Option(
        "none",
        metavar="PRUNINGS",
        help="Pruning axis, comma-separated: none, channels=RATIO (structured: fewer FLOPs), magnitude=SPARSITY "
        "(unstructured zeros), 2to4 (2:4, what TensorRT's sparse kernels use); each is built at every precision.",
    ),
    search: str = typer.Option(
        "default",
        metavar="HOW",
        help="default: each pass's and runtime's default settings; wide: also the settings they declare worth "
        "trying (calibration methods, per-tensor, op types, NNCF presets, threads, performance hints), each "
        "measured as its own variant.",
    ),
    shape: list[str] = typer.Option(
        [],
        metavar="NAME=DIMS",
        help="Size of an input's dynamic axes other than batch, batch first (e.g. input_ids=1x128); repeat per input.",
    ),
    spec: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="A TOML file with these options under the same names (runtimes, precisions, prune, batch, search, "
        "...); options on the command line win over it.",
    ),
    build_jobs: int | None = typer.Option(
        None, metavar="N", min=1, help="Variants built at once, each in its own process (default: one per CPU)."
    ),
    metric: str = typer.Option(
        "auto",
        metavar="NAME",
        help="What accuracy loss measures: top1 (against the labels), agreement (top-1 agreement with the FP32 "
        "outputs), cosine (to the FP32 outputs; for embeddings), or auto: top1 with labels, else cosine for "
        "unit-norm outputs, else agreement.",
    ),
    sla_p99_ms: float | None = typer.Option(
        None, help="Latency budget: p99 per query in ms; slower builds are off the front."
    ),
    max_accuracy_loss: float | None = typer.Option(
        None, help="Accuracy budget: largest absolute top-1 loss against FP32 (0.01 = 1 percentage point)."
    ),
    min_duration: float = typer.Option(2.0, help="Seconds each timed window lasts at least (after warm-up)."),
    warmup: float = typer.Option(0.5, help="Seconds of untimed warm-up before each window."),
    iterations: int = typer.Option(
        0,
        min=0,
        metavar="N",
        help="Queries per window instead of --min-duration (like trtexec --iterations, benchmark_app -niter); "
        "a window still lasts as long as the power sensor needs. 0: by duration.",
    ),
    threads: int = typer.Option(
        0, min=0, metavar="N", help="CPU threads for the runtime (ONNX Runtime intra-op, OpenVINO). 0: all usable CPUs."
    ),
    concurrency: str = typer.Option(
        "1",
        metavar="LEVELS",
        help="Queries in flight, comma-separated, swept at each batch size (OpenVINO async requests, ONNX Runtime "
        "concurrent runs); the sweep stops once p99 is over twice --sla-p99-ms.",
    ),
    profile_layers: bool = typer.Option(
        False, "--profile-layers", help="Profile each window's operators (a separate pass) and report the top ones."
    ),
    repeats: int = typer.Option(1, min=1, max=MAX_REPEATS, metavar="N", help=_REPEATS_HELP),
    host_key: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="The host's private key, which signs jobs and acks (default: ~/.config/edgeprof/host.key; for a run "
        "with only the local agent, one in --out). It must exist: see `edgeprof keygen`, or --create-key.",
    ),
    create_key: bool = typer.Option(False, "--create-key", help="Create --host-key if it does not exist."),
    job_key_file: Path | None = typer.Option(None, hidden=True, help="Old name of --host-key."),
    keyring: Path | None = typer.Option(
        None,
        metavar="DIR",
        help="Enrolled device public keys (default: ~/.config/edgeprof/devices; see `edgeprof fleet enrol`).",
    ),
    broker_credentials: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="File with username=NAME and password=SECRET lines for the broker (or set $EDGEPROF_MQTT_USERNAME "
        "and $EDGEPROF_MQTT_PASSWORD); never stored in results.db.",
    ),
    broker_ca: Path | None = typer.Option(None, metavar="FILE", help="CA certificate to check the broker (TLS)."),
    broker_cert: Path | None = typer.Option(None, metavar="FILE", help="Client certificate for the broker (TLS)."),
    broker_key: Path | None = typer.Option(None, metavar="FILE", help="Private key of --broker-cert."),
    serve_host: str = typer.Option("127.0.0.1", help="Address the artifact server binds (0.0.0.0 for remote devices)."),
    advertise_host: str | None = typer.Option(None, help="Host name devices use to reach the artifact server."),
    power: PowerSource | None = typer.Option(
        None,
        metavar="NAME",
        help=f"Power source for the local agent: {', '.join(SENSORS)} (default: the best one found).",
    ),
    ort_providers: str = typer.Option(
        "cpu",
        metavar="NAMES",
        help="ONNX Runtime execution providers, comma-separated: cpu, cuda, tensorrt (TensorRT first, then CUDA); "
        "each is built at every precision and named in the variant id (ort-cuda-fp16).",
    ),
    power_modes: str = typer.Option(
        "",
        metavar="MODES",
        help="Jetson power modes to measure in, comma-separated, as the target profiles name them (MAXN, 15W, ...); "
        "'current' also measures every device as it is. The agent switches (nvpmodel), lets the clocks settle and "
        "restores the previous mode.",
    ),
    fixed_clocks: bool = typer.Option(
        False, "--fixed-clocks", help="With --power-modes: pin the clocks at each mode's maximum (jetson_clocks)."
    ),
    trt_dla_core: int | None = typer.Option(
        None, min=0, metavar="N", help="TensorRT: build for DLA core N (Jetson Xavier/Orin), GPU fallback on."
    ),
    trt_workspace_mib: int | None = typer.Option(
        None, min=1, metavar="MIB", help="TensorRT: the builder's workspace limit in MiB (default TensorRT's)."
    ),
    trt_cuda_graph: bool = typer.Option(
        False, "--trt-cuda-graph", help="TensorRT: replay each query as a CUDA graph (trtexec --useCudaGraph)."
    ),
    objectives: str | None = d.OBJECTIVES,
    pick: str | None = d.PICK,
    exclude_estimates: bool | None = d.EXCLUDE_ESTIMATES,
    max_memory_mb: float | None = d.MAX_MEMORY,
    electricity_price: float | None = d.ELECTRICITY,
    pue: float | None = d.PUE,
    amortisation_months: float | None = d.AMORTISATION,
    purchase_price: float | None = d.PURCHASE,
    rental_price: float | None = d.RENTAL,
    pricing: str | None = d.PRICING,
    utilisation: float | None = d.UTILISATION,
    monitor_summary: Path | None = d.MONITOR_SUMMARY,
    rate: str | None = d.RATE,
    p99_ms: float | None = d.P99,
    plan_targets: str | None = typer.Option(
        None, metavar="IDS", help="Targets the planner sizes (see `plan --targets`)."
    ),
    targets_dir: list[Path] | None = d.TARGETS_DIR,
) -> None:
    """Build variants of MODEL, measure them on the target devices, and write a ranked report."""
    from pipeline.request import DecisionOptions, RunRequest

    decision = DecisionOptions.from_json(d.shared_overrides(locals()))
    o = dict(
        calib=calib, eval=eval, out=out, targets=targets, batch=batch, precisions=precisions, runtimes=runtimes,
        prune=prune, search=search, metric=metric, build_jobs=build_jobs, sla_p99_ms=sla_p99_ms,
        max_accuracy_loss=max_accuracy_loss, min_duration=min_duration, warmup=warmup, shape=shape,
    )  # fmt: skip
    if spec is not None:
        o.update(_from_spec(ctx, spec))
    trt_recipe = {"dla_core": trt_dla_core, "workspace_mib": trt_workspace_mib}
    trt_recipe = {k: v for k, v in trt_recipe.items() if v is not None}
    _run(
        RunRequest(
            model=model,
            out=o["out"],
            calib=o["calib"],
            eval=o["eval"],
            broker=broker,
            # default: the local agent, unless --devices names the devices to use
            targets=tuple(_csv(o["targets"] or "")) or (() if _csv(devices) else ("local",)),
            devices=tuple(_csv(devices)),
            batch_sizes=tuple(_csv_ints(o["batch"], "--batch")),
            precisions=tuple(_csv(o["precisions"])),
            runtimes=tuple(_csv(o["runtimes"])),
            prune=tuple(_csv(o["prune"]) or ["none"]),
            search=o["search"],
            build_jobs=o["build_jobs"],
            shapes=_shapes(o["shape"]),
            metric=o["metric"],
            sla_p99_ms=o["sla_p99_ms"],
            max_accuracy_loss=o["max_accuracy_loss"],
            min_duration_s=o["min_duration"],
            warmup_s=o["warmup"],
            iterations=iterations,
            threads=threads,
            concurrency=tuple(_csv_ints(concurrency, "--concurrency")),
            profile_layers=profile_layers,
            repeats=repeats,
            host_key_file=host_key or job_key_file,
            create_key=create_key,
            keyring_dir=keyring,
            broker_credentials=broker_credentials,
            broker_ca=broker_ca,
            broker_cert=broker_cert,
            broker_key=broker_key,
            serve_host=serve_host,
            advertise_host=advertise_host,
            power=power.value if power is not None else None,
            ort_providers=tuple(_csv(ort_providers) or ["cpu"]),
            power_modes=tuple(_csv(power_modes)),
            fixed_clocks=fixed_clocks,
            pass_options={"trt_recipe": trt_recipe} if trt_recipe else {},
            runtime_options={"tensorrt": {"use_cuda_graph": True}} if trt_cuda_graph else {},
            decision=d.checked(decision, o["sla_p99_ms"]),
        )
    )


def demo(
    out: Path = typer.Option(Path("edgeprof-out"), help="Output folder for report.html, results.json, results.db."),
    broker: str | None = typer.Option(None, help=_BROKER_HELP),
    min_duration: float = typer.Option(2.0, help="Seconds each timed window lasts at least."),
    repeats: int = typer.Option(
        DEMO_REPEATS,
        min=1,
        max=MAX_REPEATS,
        metavar="N",
        help=_REPEATS_HELP + f" The demo's default, {DEMO_REPEATS}, about doubles its measuring time: --repeats 1 "
        "takes 25-50 s on an idle 2-core machine (scripts/bench/demo_wall_time.md); scripts/bench/"
        "demo_repeatability.md has the time two rounds took on a busy one.",
    ),
) -> None:
    """Run the whole flow on the bundled digits CNN: embedded broker, local agent, FP32/INT8/FP16 builds."""
    from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH
    from pipeline.request import RunRequest

    _run(
        RunRequest(
            model=DEMO_MODEL_PATH,
            out=out,
            calib=DEMO_CALIB_PATH,
            eval=DEMO_EVAL_PATH,
            broker=broker,
            min_duration_s=min_duration,
            repeats=repeats,
            host_key_file=out / "keys" / "host.key",  # its own keys: the local agent is enrolled in --out
            create_key=True,
            keyring_dir=out / "keys" / "devices",
        )
    )
