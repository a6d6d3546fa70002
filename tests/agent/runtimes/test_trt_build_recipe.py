"""The TensorRT build recipe both ends share: validation, the manifest's JSON, the trtexec line."""

from __future__ import annotations

import shlex

import pytest

from agent.errors import RuntimeLoadError
from agent.runtimes.trt_build_recipe import SETTINGS_KEY, ShapeProfile, TRTBuildRecipe, render_trtexec

PROFILE = {"images": ShapeProfile((1, 3, 224, 224), (8, 3, 224, 224), (8, 3, 224, 224))}


def test_fp16_with_a_profile_renders_the_trtexec_build() -> None:
    recipe = TRTBuildRecipe(precision="fp16", profile=PROFILE)

    assert render_trtexec(recipe, engine="model.engine") == (
        "trtexec --onnx=model.onnx --saveEngine=model.engine --minShapes=images:1x3x224x224 "
        "--optShapes=images:8x3x224x224 --maxShapes=images:8x3x224x224 --fp16 --noTF32"
    )


def test_every_build_setting_has_its_flag() -> None:
    recipe = TRTBuildRecipe(
        precision="best",
        profile=PROFILE,
        tf32=True,
        sparse_weights=True,
        dla_core=1,
        gpu_fallback=True,
        workspace_mib=2048,
        builder_optimization_level=5,
    )

    line = render_trtexec(recipe, batch=4, cuda_graph=True)

    assert shlex.split(line) == [
        "trtexec",
        "--onnx=model.onnx",
        "--minShapes=images:1x3x224x224",
        "--optShapes=images:8x3x224x224",
        "--maxShapes=images:8x3x224x224",
        "--shapes=images:4x3x224x224",
        "--fp16",
        "--int8",
        "--sparsity=enable",
        "--memPoolSize=workspace:2048",
        "--useDLACore=1",
        "--allowGPUFallback",
        "--builderOptimizationLevel=5",
        "--useCudaGraph",
    ]
    assert "--best" not in line and "--noTF32" not in line


def test_static_shapes_need_no_profile_and_int8_sets_only_int8() -> None:
    line = render_trtexec(TRTBuildRecipe(precision="int8-static"), onnx="qdq.onnx", batch=1)

    assert line == "trtexec --onnx=qdq.onnx --int8 --noTF32"


def test_awkward_input_names_are_quoted_for_trtexec_and_the_shell() -> None:
    recipe = TRTBuildRecipe(
        precision="fp32",
        profile={
            "input:0": ShapeProfile((1, 4), (2, 4), (2, 4)),
            "mask": ShapeProfile((1, 4), (2, 4), (2, 4)),
        },
    )

    args = shlex.split(render_trtexec(recipe))

    assert "--minShapes='input:0':1x4,mask:1x4" in args  # trtexec's own quoting survives the shell


def test_the_manifest_json_round_trips() -> None:
    recipe = TRTBuildRecipe(precision="best", profile=PROFILE, sparse_weights=True, dla_core=0, workspace_mib=512)

    settings = {SETTINGS_KEY: recipe.to_settings()}

    assert TRTBuildRecipe.from_settings(settings) == recipe
    assert settings[SETTINGS_KEY]["flags"] == ["fp16", "int8"] and settings[SETTINGS_KEY]["schema"] == 1


def test_the_digest_covers_the_model_and_every_setting() -> None:
    recipe = TRTBuildRecipe(precision="fp16", profile=PROFILE)

    assert recipe.digest("a" * 64) == TRTBuildRecipe(precision="fp16", profile=PROFILE).digest("a" * 64)
    assert recipe.digest("a" * 64) != recipe.digest("b" * 64)
    assert recipe.digest("a" * 64) != TRTBuildRecipe(precision="fp16", profile=PROFILE, workspace_mib=64).digest(
        "a" * 64
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"precision": "int4"}, "precision 'int4' is not one of"),
        ({"precision": "fp32", "dla_core": 0}, "DLA runs FP16 and INT8 only"),
        ({"precision": "fp16", "profile": {"x": ShapeProfile((8, 3), (1, 3), (8, 3))}}, "1 <= min <= opt <= max"),
        ({"precision": "fp16", "profile": {"x": ShapeProfile((1, 3), (1, 3, 1), (8, 3))}}, "one rank"),
        ({"precision": "fp16", "builder_optimization_level": 7}, "0..5"),
        ({"precision": "fp16", "workspace_mib": 0}, "workspace_mib must be at least 1"),
    ],
)
def test_an_unbuildable_recipe_says_why(fields: dict, message: str) -> None:
    with pytest.raises(RuntimeLoadError, match=message):
        TRTBuildRecipe(**fields)


def test_flags_that_disagree_with_the_precision_are_refused() -> None:
    settings = TRTBuildRecipe(precision="fp16").to_settings()
    settings["flags"] = ["int8"]

    with pytest.raises(RuntimeLoadError, match="says flags"):
        TRTBuildRecipe.from_settings({SETTINGS_KEY: settings})


def test_batch_range_is_where_every_profiled_input_agrees() -> None:
    recipe = TRTBuildRecipe(
        precision="fp32",
        profile={"a": ShapeProfile((1, 2), (4, 2), (8, 2)), "b": ShapeProfile((2, 2), (4, 2), (16, 2))},
    )

    assert recipe.batch_range() == (2, 8)
    assert TRTBuildRecipe(precision="fp32").batch_range() is None
