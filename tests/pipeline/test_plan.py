"""pipeline.plan: the request expanded into variants from what passes and runtimes declare."""

from __future__ import annotations

import os
import re
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
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", proc.stdout).split())  # rich's box and wrapping aside
    assert "int7-test" in text and "halfway" in text
    assert "a test runtime registered by the test suite" in text


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


def test_tensorrt_precisions_are_builder_flags_on_fp32_or_qdq_onnx() -> None:
    plan = plan_variants(["fp32", "fp16", "int8-static", "best"], ["tensorrt"], batch_sizes=[8, 1])

    chains = {v.id: v.pass_names for v in plan.variants}
    assert chains == {
        "trt-fp32": ["opset_upgrade", "trt_recipe"],
        "trt-fp16": ["opset_upgrade", "trt_recipe"],
        "trt-int8-static": ["opset_upgrade", "trt_qdq", "trt_recipe"],  # TensorRT's QDQ, not ORT's defaults
        "trt-best": ["opset_upgrade", "trt_qdq", "trt_recipe"],
    }
    best = plan.variants[3]
    assert best.passes[-1].config == {"precision": "best", "sparsity": None, "batch_sizes": [1, 8]}
    assert best.artifact_kind == "tensorrt-recipe" and best.needs_calibration
    assert "best" in Catalog.registered().precisions()


def test_onnx_runtime_int8_keeps_its_own_quantizer_and_best_is_tensorrts() -> None:
    plan = plan_variants(["int8-static", "best"], ["onnxruntime"])

    assert plan.variants[0].pass_names == ["opset_upgrade", "quantize_static"]
    assert [s.variant for s in plan.skipped] == ["ort-best"]


def test_2to4_pruning_turns_on_tensorrts_sparse_tactics() -> None:
    (spec,) = plan_variants(["fp16"], ["tensorrt"], prune=["2to4"]).variants

    assert spec.id == "trt-fp16-2to4" and spec.pass_names == ["opset_upgrade", "prune_2to4", "trt_recipe"]
    assert spec.passes[-1].config["sparsity"] == "2:4"


def test_ort_providers_are_an_axis_named_in_the_ids_and_recorded_as_options() -> None:
    plan = plan_variants(["fp32", "int8-static"], ["onnxruntime"], ort_providers=["cpu", "cuda", "tensorrt"])

    by_id = {v.id: dict(v.runtime_options) for v in plan.variants}
    assert list(by_id) == [
        "ort-fp32",
        "ort-int8-static",
        "ort-cuda-fp32",
        "ort-cuda-int8-static",
        "ort-trtep-fp32",
        "ort-trtep-int8-static",
    ]
    assert by_id["ort-fp32"] == {}  # the CPU is ONNX Runtime's default
    assert by_id["ort-cuda-fp32"] == {"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    assert by_id["ort-trtep-int8-static"]["providers"][0] == ["TensorrtExecutionProvider", {"trt_int8_enable": True}]
    with pytest.raises(InputError, match="unknown provider.*rocm; known: cpu, cuda, tensorrt"):
        plan_variants(["fp32"], ["onnxruntime"], ort_providers=["rocm"])


def test_power_modes_multiply_the_variants_but_not_the_skips() -> None:
    plan = plan_variants(["fp16", "int8-dynamic"], ["tensorrt"], power_modes=["MAXN", "15W"])

    assert [(v.id, v.power_mode) for v in plan.variants] == [
        ("trt-fp16-mode-MAXN", "MAXN"),
        ("trt-fp16-mode-15W", "15W"),
    ]
    assert plan.variants[0].passes == plan.variants[1].passes  # one build, measured in two modes
    assert [s.variant for s in plan.skipped] == ["trt-int8-dynamic"]


def test_pass_options_reach_their_pass_and_are_checked_by_it() -> None:
    plan = plan_variants(["fp16"], ["tensorrt"], pass_options={"trt_recipe": {"dla_core": 0, "workspace_mib": 512}})

    assert plan.variants[0].passes[-1].config["dla_core"] == 0
    with pytest.raises(InputError, match="trt_recipe options for trt-fp32: a DLA runs FP16 and INT8 only"):
        plan_variants(["fp32"], ["tensorrt"], pass_options={"trt_recipe": {"dla_core": 0}})
    with pytest.raises(InputError, match="unknown pass"):
        plan_variants(["fp32"], ["tensorrt"], pass_options={"trt_engine": {}})
