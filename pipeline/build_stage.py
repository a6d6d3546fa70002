"""The build stage: every planned variant built (or its failure recorded), in parallel, with a progress bar.

A failing pass fails that variant only: its reason is printed and kept for the report, and the others
carry on. A variant whose host-side score already breaks the accuracy budget is not shipped. The stage
fails as a whole only when nothing could be built.

Builds run in worker processes, up to the number of CPUs (``jobs``): the quantizers redirect stdout
and hold the GIL for long stretches, so threads would not do. The steps every chain shares (the opset
upgrade) are built first, once, so that the workers find them in the cache instead of racing for them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from pipeline.build import Built, VariantBuilder
from pipeline.errors import PassError
from pipeline.inputs import PreparedInputs
from pipeline.passes import PassContext
from pipeline.plan import Plan, VariantSpec
from pipeline.progress import progress_bar
from pipeline.store import ArtifactStore, StoredBuild
from pipeline.summary import Failure


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_variants(
    plan: Plan,
    inputs: PreparedInputs,
    reference: np.ndarray | None,
    metric: str,
    max_accuracy_loss: float | None,
    store: ArtifactStore,
    console: Console,
    jobs: int | None = None,
) -> tuple[list[Built], list[Failure]]:
    ctx = PassContext(
        calibration=dict(inputs.calib.inputs) if inputs.calib else None,
        evaluation=dict(inputs.eval.inputs) if inputs.eval else None,
        labels=inputs.eval.labels if inputs.eval else None,
        reference=reference,
        max_accuracy_loss=max_accuracy_loss,
        metric=metric,
    )
    builder = VariantBuilder(store, ctx)
    source = builder.source(inputs.model.path)
    built: list[Built] = []
    failed: list[Failure] = []
    workers = max(1, min(jobs or default_jobs(), len(plan.variants)))
    with progress_bar(console) as progress:
        task = progress.add_task("building variants", total=len(plan.variants))

        def finish(spec: VariantSpec, made: Built | PassError) -> None:
            if isinstance(made, PassError):
                failed.append(Failure(spec.id, "host", str(made)))
                progress.console.print(f"[yellow]variant {spec.id} not built:[/yellow] {escape(str(made))}")
            elif rejected := _over_budget(made, max_accuracy_loss):
                failed.append(Failure(spec.id, "host", rejected))
                progress.console.print(f"[yellow]variant {spec.id} not shipped:[/yellow] {escape(rejected)}")
            else:
                built.append(made)
            progress.advance(task)

        # what the cache already holds costs lookups only: no worker process is worth starting for it
        cached = [v for v in plan.variants if builder.cached(v, source)]
        to_build = [v for v in plan.variants if v not in cached]
        for spec in cached:
            finish(spec, _attempt(builder, spec, source, None))
        workers = max(1, min(workers, len(to_build)))
        if workers == 1:
            for spec in to_build:

                def step(name: str, spec_id: str = spec.id) -> None:
                    progress.update(task, description=f"building {spec_id}: {name}")

                finish(spec, _attempt(builder, spec, source, step))
        else:
            progress.update(task, description="building the steps the variants share")
            shared = {
                json.dumps([v.passes[0].name, dict(v.passes[0].config)], sort_keys=True): v.passes[0]
                for v in plan.variants
                if v.passes
            }
            for first in shared.values():
                try:
                    builder.step(source, first)
                except PassError:
                    pass  # each variant that needs it fails with the reason below
            _in_parallel(to_build, store.root, ctx, source, workers, progress, task, finish)
        progress.update(task, description=f"built {len(built)} variant(s)")
    order = {v.id: i for i, v in enumerate(plan.variants)}
    built.sort(key=lambda b: order[b.spec.id])
    failed.sort(key=lambda f: order.get(f.variant_id, len(order)))
    if not built:
        raise PassError("no variant could be built within the budget; see the messages above")
    return built, failed


def _in_parallel(
    specs: list[VariantSpec],
    store_root: Path,
    ctx: PassContext,
    source: StoredBuild,
    workers: int,
    progress: Progress,
    task: TaskID,
    finish: Callable[[VariantSpec, Built | PassError], None],
) -> None:
    # spawn, not fork: the host runs threads (paho's loop, the embedded broker) that fork would copy mid-lock
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict[Future[Built | PassError], VariantSpec] = {
            pool.submit(_build_in_worker, store_root, ctx, spec, source.sha256): spec for spec in specs
        }
        while running:
            names = ", ".join(s.id for f, s in running.items() if f.running())
            progress.update(task, description=f"building {names}" if names else "building")
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                spec = running.pop(future)
                finish(spec, future.result())


def _build_in_worker(store_root: Path, ctx: PassContext, spec: VariantSpec, source_sha: str) -> Built | PassError:
    store = ArtifactStore(store_root)
    source = store.get_build(source_sha)
    assert source is not None, "the source build vanished from the store"
    return _attempt(VariantBuilder(store, ctx), spec, source, None)


def _attempt(
    builder: VariantBuilder, spec: VariantSpec, source: StoredBuild, step: Callable[[str], None] | None
) -> Built | PassError:
    try:
        return builder.build(spec, source, on_step=step)
    except PassError as exc:
        return exc


def _over_budget(made: Built, max_accuracy_loss: float | None) -> str:
    """Why ``made`` is not shipped (its host-side loss already breaks the budget), or ""."""
    q = made.host_quality
    if q is None or max_accuracy_loss is None or not q.loss > max_accuracy_loss:
        return ""
    return f"rejected on the host: {q.describe()} breaks the budget of {max_accuracy_loss:g}"
