"""pipeline.plan: the request expanded into variants from what passes and runtimes declare."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runtimes import RUNTIMES
from pipeline.errors import InputError
from pipeline.passes import PASSES
from pipeline.plan import Catalog, plan_variants

from .plugins import tiny

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def plugins() -> Iterator[None]:
    tiny.register(RUNTIMES, PASSES)
    try:
        yield
    finally:
        tiny.unregister(RUNTIMES, PASSES)


def test_chains_start_with_the_opset_upgrade_and_add_the_providing_pass() -> None:
    plan = plan_variants(["fp32", "int8-static"], ["onnxruntime"])

    assert [v.id for v in plan.variants] == ["ort-fp32", "ort-int8-static"]
    assert all(v.pass_names[0] == "opset_upgrade" for v in plan.variants)
    assert plan.variants[1].pass_names == ["opset_upgrade", "quantize_static"]
    assert plan.variants[1].needs_calibration and not plan.variants[0].needs_calibration
    assert {v.artifact_kind for v in plan.variants} == {"onnx"}


def test_unknown_names_are_input_errors_listing_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown precision.*int3.*known: fp32"):
        plan_variants(["int3"], ["onnxruntime"])
    with pytest.raises(InputError, match="unknown runtime.*nope.*onnxruntime"):
        plan_variants(["fp32"], ["nope"])


def test_a_registered_pass_and_runtime_appear_in_the_plan(plugins: None) -> None:
    catalog = Catalog.registered()
    assert "int7-test" in catalog.precisions() and "halfway" in catalog.runtime_names()

    plan = plan_variants(["fp32", "int7-test", "int8-dynamic"], ["onnxruntime", "halfway"])

    ids = [v.id for v in plan.variants]
    assert ids == ["ort-fp32", "ort-int8-dynamic", "hw-fp32", "hw-int7-test"]
    assert plan.variants[-1].pass_names == ["opset_upgrade", "int7_test"]
    # what cannot be built is said, not an error: ONNX Runtime has no int7, the test runtime no int8
    reasons = {s.variant: s.reason for s in plan.skipped}
    assert set(reasons) == {"ort-int7-test", "hw-int8-dynamic"}
    assert "onnxruntime does not run int7-test" in reasons["ort-int7-test"]


def test_a_registered_pass_and_runtime_appear_in_the_help() -> None:
    # as a plug-in would: register, then build the command line
    script = (
        "import sys; from agent.runtimes import RUNTIMES; from pipeline.passes import PASSES; "
        "from tests.pipeline.plugins import tiny; tiny.register(RUNTIMES, PASSES); "
        "sys.argv = ['edgeprof', 'optimize', '--help']; from pipeline.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}
    )

    assert proc.returncode == 0, proc.stderr
    assert "int7-test" in proc.stdout and "halfway" in proc.stdout
    assert "a test runtime registered by the test suite" in proc.stdout


def test_a_provider_that_names_the_runtime_wins_over_a_generic_one(plugins: None) -> None:
    class Generic(tiny.Int7Test):
        runtimes = ()

    catalog = Catalog.registered()
    passes = {"generic_int7": Generic, **catalog.passes}
    plan = plan_variants(["int7-test"], ["halfway"], Catalog(catalog.runtimes, passes))

    assert plan.variants[0].pass_names == ["opset_upgrade", "int7_test"]


def test_pruning_is_an_axis_built_at_every_precision() -> None:
    plan = plan_variants(["fp32", "int8-static"], ["onnxruntime"], prune=["none", "channels=0.2", "2to4"])

    assert [v.id for v in plan.variants] == [
        "ort-fp32",
        "ort-int8-static",
        "ort-fp32-channels0.2",
        "ort-int8-static-channels0.2",
        "ort-fp32-2to4",
        "ort-int8-static-2to4",
    ]
    pruned = plan.variants[3]
    assert pruned.pass_names == ["opset_upgrade", "prune_channels", "quantize_static"]  # prune, then quantize
    assert pruned.passes[1].config == {"ratio": 0.2} and pruned.sparsity == "structured"
    assert plan.variants[4].sparsity == "2:4" and plan.variants[0].sparsity is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shears=0.3", "unknown pruning 'shears'; known: none, magnitude, channels, 2to4"),
        ("2to4=0.5", "2to4 takes no amount"),
        ("channels=lots", "the amount must be a number"),
        ("channels=1.5", "less than 1"),
    ],
)
def test_a_bad_pruning_is_an_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        plan_variants(["fp32"], ["onnxruntime"], prune=[text])
