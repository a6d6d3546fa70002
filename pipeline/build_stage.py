"""The build stage: every planned variant built (or its failure recorded), with a progress bar.

A failing pass fails that variant only: its reason is printed and kept for the report, and the others
carry on. The stage fails as a whole only when nothing could be built.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.markup import escape

from pipeline.build import Built, VariantBuilder
from pipeline.errors import PassError
from pipeline.inputs import PreparedInputs
from pipeline.passes import PassContext
from pipeline.plan import Plan
from pipeline.progress import progress_bar
from pipeline.store import ArtifactStore
from pipeline.summary import Failure


def build_variants(
    plan: Plan,
    inputs: PreparedInputs,
    reference: np.ndarray | None,
    metric: str,
    max_accuracy_loss: float | None,
    store: ArtifactStore,
    console: Console,
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
    with progress_bar(console) as progress:
        task = progress.add_task("building variants", total=len(plan.variants))
        for spec in plan.variants:

            def step(name: str, spec_id: str = spec.id) -> None:
                progress.update(task, description=f"building {spec_id}: {name}")

            try:
                made = builder.build(spec, source, on_step=step)
            except PassError as exc:
                failed.append(Failure(spec.id, "host", str(exc)))
                progress.console.print(f"[yellow]variant {spec.id} not built:[/yellow] {escape(str(exc))}")
            else:
                rejected = _over_budget(made, max_accuracy_loss)
                if rejected:
                    failed.append(Failure(spec.id, "host", rejected))
                    progress.console.print(f"[yellow]variant {spec.id} not shipped:[/yellow] {escape(rejected)}")
                else:
                    built.append(made)
            progress.advance(task)
        progress.update(task, description=f"built {len(built)} variant(s)")
    if not built:
        raise PassError("no variant could be built within the budget; see the messages above")
    return built, failed


def _over_budget(made: Built, max_accuracy_loss: float | None) -> str:
    """Why ``made`` is not shipped (its host-side loss already breaks the budget), or ""."""
    q = made.host_quality
    if q is None or max_accuracy_loss is None or not q.loss > max_accuracy_loss:
        return ""
    return f"rejected on the host: {q.describe()} breaks the budget of {max_accuracy_loss:g}"
