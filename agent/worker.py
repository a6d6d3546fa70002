"""Runs one benchmark job in a child process: ``python -m agent.worker SPEC.json RESULT.json [AGENT_PID]``.

The service starts this with a deadline, so a runtime that segfaults or hangs cannot take the
agent down. The spec (:class:`agent.protocol.WorkerSpec`) holds the verified job and the local paths
of its verified artifacts; the result is a ``BenchmarkResult`` written atomically. Errors the
worker understands become a ``failed`` result with one clear line; anything else exits non-zero
and the service reports it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from agent import __version__
from agent.errors import AgentError, InferenceError, ProtocolError, SensorError
from agent.harness import EvalSet, IdlePower, fixed_batch_size, synthetic_eval_set
from agent.parent_watch import on_parent_exit
from agent.power_modes import job_power_mode
from agent.progress_feed import PROGRESS_FILE, ProgressWriter
from agent.protocol import BenchmarkJob, BenchmarkResult, WorkerSpec, decode, encode
from agent.protocol.eval_data import read_eval_set
from agent.runtimes import LocalArtifact, get_runtime
from agent.sweep import Deadline, run_sweep, throughput_at_sla

#: Seconds of idle power measured before the first window, when the sensor is real (at least
#: six sensor periods, so slow sensors such as jtop at 2 Hz still give a valid figure).
IDLE_MEASURE_S = 1.0


def sampler_window_s(sensor: Any) -> float:
    """The shortest window this sensor gives a valid figure for, with a margin (the sampler needs
    five sensor periods and the sensor's own minimum, e.g. 1 s for NVML's energy counter)."""
    return 1.2 * max(5.0 / sensor.nominal_rate_hz, getattr(sensor, "min_window_s", 0.0))


def idle_seconds(sensor: Any) -> float:
    return max(IDLE_MEASURE_S, sampler_window_s(sensor))


def load_eval_set(path: Path) -> EvalSet:
    """Read the evaluation artifact the host packs (layout: :mod:`agent.protocol.eval_data`)."""
    try:
        inputs, labels, reference = read_eval_set(path)
    except ProtocolError as exc:
        raise InferenceError(str(exc)) from None
    return EvalSet(inputs, labels=labels, reference=reference)


def _open_sampler(prefer: Optional[str], notes: List[str], target: str = "") -> Any:
    try:
        from agent.power import discover
        from agent.power.estimate_basis import estimate_options
        from agent.power.sampler import PowerSampler

        sensor = discover(prefer=prefer, estimate_options=estimate_options(target))
        if prefer and sensor.name != prefer:
            notes.append("power source %r was asked for but does not work here: used %s" % (prefer, sensor.source))
        sampler = PowerSampler(sensor)
        sampler.start()
        return sampler
    except (SensorError, ImportError) as exc:
        notes.append("no power sensor: %s" % exc)
        return None


def idle_power(sampler: Any, notes: List[str]) -> IdlePower:
    """Idle power before the first window, for every source: measured where the sensor measures, the
    estimate's own idle figure where it has one, else stated as unknown."""
    from agent.power.estimate_basis import IDLE_UNKNOWN

    sensor = sampler.sensor
    if sensor.estimated:
        watts = getattr(sensor, "idle_w", None)
        if watts is None:
            return IdlePower(None, IDLE_UNKNOWN)
        return IdlePower(watts, "assumed, not measured: %s" % getattr(sensor, "idle_basis", "given"))
    seconds = idle_seconds(sensor)
    try:
        return IdlePower(sampler.measure_idle(seconds), "measured over %.1f s before the job's first window" % seconds)
    except SensorError as exc:
        notes.append("idle power not measured: %s" % exc)
        return IdlePower(None, "unknown: the idle measurement failed (%s)" % exc)


def runtime_options(job: BenchmarkJob, cls: Any) -> Dict[str, Any]:
    """The job's runtime options with its ``threads`` put where this runtime reads them."""
    options = dict(job.runtime_options)
    if job.threads and cls.threads_option:
        options[cls.threads_option] = job.threads
    return options


def run_job(
    job: BenchmarkJob,
    artifact: LocalArtifact,
    eval_path: Optional[Path],
    power: Optional[str],
    state_dir: Optional[Path] = None,
    target: str = "",
    deadline_at: float = 0.0,
    progress_path: Optional[Path] = None,
) -> Dict[str, Any]:
    started = time.time()
    deadline = Deadline.from_unix(deadline_at or started + job.deadline_s)
    env_notes: List[str] = []
    base = dict(
        result_id=uuid.uuid4().hex,
        job_id=job.job_id,
        run_id=job.run_id,
        variant_id=job.variant_id,
        device_id=job.device_id,
        runtime=job.runtime,
        precision=job.precision,
        started_at=started,
        agent_version=__version__,
        artifact_kind=artifact.kind,
    )
    environment = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "notes": env_notes,
    }
    cls = get_runtime(job.runtime)
    runtime = cls(runtime_options(job, cls))
    if state_dir is not None and hasattr(runtime, "set_cache_dir"):
        runtime.set_cache_dir(state_dir / "trt-engines")  # built engines outlive the job's work folder
    runtime_version = cls.version()
    runtime.load(artifact)
    data = load_eval_set(eval_path) if eval_path is not None else synthetic_eval_set(runtime, shapes=job.input_shapes)
    fixed = fixed_batch_size(runtime)

    sampler = _open_sampler(power, env_notes, target)
    idle = None
    try:
        if sampler is not None:
            environment["power_source"] = sampler.sensor.source
            idle = idle_power(sampler, env_notes)
        min_duration_s = 0.0 if job.iterations else job.min_duration_s
        if sampler is not None and min_duration_s < sampler_window_s(sampler.sensor):
            if not job.iterations:
                env_notes.append(
                    "windows lengthened from %.2f s to %.2f s: %s needs at least that many samples"
                    % (job.min_duration_s, sampler_window_s(sampler.sensor), sampler.sensor.source)
                )
            min_duration_s = sampler_window_s(sampler.sensor)
        measurements, sweep_notes = run_sweep(
            runtime,
            data,
            job,
            min_duration_s=min_duration_s,
            deadline=deadline,
            sampler=sampler,
            idle=idle,
            fixed_batch=fixed,
            score_accuracy=eval_path is not None,
            progress=ProgressWriter(progress_path) if progress_path is not None else None,
        )
        env_notes.extend(sweep_notes)
    finally:
        if sampler is not None:
            sampler.stop()
            sampler.sensor.close()
    scored = [m for m in measurements if m.accuracy is not None]
    accuracy = max(scored, key=lambda m: m.batch_size).accuracy if scored else None
    settings = runtime.settings()
    runtime.close()
    status = "ok" if measurements else "failed"
    error = "" if measurements else "no batch size could be measured: " + "; ".join(env_notes)
    result = BenchmarkResult(
        status=status,
        error=error,
        finished_at=time.time(),
        runtime_version=runtime_version,
        runtime_settings=settings,
        measurements=measurements,
        accuracy=accuracy,
        environment=environment,
        throughput_at_sla=throughput_at_sla(measurements, job.sla_p99_ms),
        **base,
    )
    return json.loads(encode(result))


def failed_result(job: BenchmarkJob, error: str, started: float) -> BenchmarkResult:
    """The result sent when a job could not run at all (bad artifact, crash, deadline)."""
    return BenchmarkResult(
        result_id=uuid.uuid4().hex,
        job_id=job.job_id,
        run_id=job.run_id,
        variant_id=job.variant_id,
        device_id=job.device_id,
        status="failed",
        runtime=job.runtime,
        precision=job.precision,
        started_at=started,
        finished_at=time.time(),
        agent_version=__version__,
        error=error,
    )


def agent_state_dir(spec_path: Path) -> Optional[Path]:
    """The agent's state folder, when the spec lies where the service puts it (``STATE/work/JOB/spec.json``)."""
    spec_path = Path(spec_path).resolve()
    return spec_path.parents[2] if spec_path.parent.parent.name == "work" else None


def note_power_mode(result: Dict[str, Any], mode: Dict[str, Any]) -> None:
    """Name the mode the job ran in on the result, with the details (and a failed restore) in its environment."""
    if not mode:
        return
    result["power_mode"] = str(mode.get("name", ""))
    environment = result.setdefault("environment", {})
    environment["power_mode"] = mode
    if mode.get("restored") is False:
        environment.setdefault("notes", []).append(
            "the previous power mode was not restored after this job: %s" % mode.get("restore_error", "")
        )


def main(argv: List[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    agent_pid = int(argv[2]) if len(argv) > 2 else None
    on_parent_exit(lambda: os._exit(3), parent=agent_pid)  # the agent died: do not run on unsupervised
    spec = decode(WorkerSpec, spec_path.read_bytes())
    job = spec.job
    started = time.time()
    try:
        artifact = LocalArtifact(
            spec.artifact_kind, {k: Path(v) for k, v in spec.artifact_files.items()}, spec.artifact_settings
        )
        eval_path = Path(spec.eval_path) if spec.eval_path else None
        with job_power_mode(job.power_mode, job.fixed_clocks, spec_path.parent) as mode:
            result = run_job(
                job,
                artifact,
                eval_path,
                spec.power,
                agent_state_dir(spec_path),
                target=spec.target,
                deadline_at=spec.deadline_at,
                progress_path=spec_path.parent / PROGRESS_FILE,
            )
        note_power_mode(result, mode)
    except AgentError as exc:
        result = json.loads(encode(failed_result(job, str(exc), started)))
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(str(tmp), str(out_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
