"""Jobs: one signed ``BenchmarkJob`` per (built variant, device), addressed and timed.

A device works through its queue in order, so each later job on a device gets proportionally longer
before it expires. With ``--repeats N`` the jobs are issued round by round (every build once, then
every build again, ...), so on each device the N windows of one build are interleaved with the other
builds' and a slow drift of the machine (heat, a neighbour's load) reaches every build alike.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from agent.protocol import ArtifactRef, BenchmarkJob
from agent.signing import SigningKey, sign_job
from pipeline.artifact_server import ArtifactServer
from pipeline.build import Built
from pipeline.request import RunRequest
from pipeline.store import StoredArtifact


def make_jobs(
    request: RunRequest,
    run_id: str,
    assignments: Sequence[tuple[Built, str]],
    eval_ref: StoredArtifact | None,
    server: ArtifactServer,
    key: SigningKey,
) -> list[BenchmarkJob]:
    """Jobs for ``assignments`` ((build, device id) pairs, in the order devices run them), signed with
    the host's private key: a device runs only jobs its enrolled host key verifies."""
    now = time.time()
    eval_data = (
        ArtifactRef(eval_ref.sha256, server.url_for(eval_ref.sha256), eval_ref.size_bytes, eval_ref.media_type)
        if eval_ref
        else None
    )
    position: dict[str, int] = {}
    jobs = []
    rounds = [pair for _ in range(max(1, request.repeats)) for pair in assignments]
    for built, device in rounds:
        n = position[device] = position.get(device, 0) + 1
        manifest = built.build.manifest_object
        model = ArtifactRef(manifest.sha256, server.url_for(manifest.sha256), manifest.size_bytes, manifest.media_type)
        job = BenchmarkJob(
            job_id=uuid.uuid4().hex,
            run_id=run_id,
            variant_id=built.spec.id,
            device_id=device,
            issued_at=now,
            expires_at=now + request.device_wait_s + n * request.job_deadline_s,
            model=model,
            runtime=built.spec.runtime,
            precision=built.spec.precision,
            batch_sizes=list(request.batch_sizes),
            eval_data=eval_data,
            runtime_options=dict(built.spec.runtime_options),
            input_shapes={name: list(dims) for name, dims in request.shapes.items()},
            warmup_s=request.warmup_s,
            min_duration_s=request.min_duration_s,
            min_queries=request.min_queries,
            sla_p99_ms=request.sla_p99_ms,
            deadline_s=request.job_deadline_s,
            power_mode=built.spec.power_mode,
            fixed_clocks=request.fixed_clocks and bool(built.spec.power_mode),
            iterations=request.iterations,
            threads=request.threads,
            profile_layers=request.profile_layers,
            concurrency=list(request.concurrency),
        )
        jobs.append(sign_job(job, key))
    return jobs
