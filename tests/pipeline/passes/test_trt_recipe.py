"""TensorRT build recipes on real (small, generated) models: profile, flags, QDQ checks, trtexec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pydantic
import pytest
from onnx import TensorProto, helper, numpy_helper

from agent.runtimes.trt_build_recipe import SETTINGS_KEY, TRTBuildRecipe, render_trtexec
from pipeline.build import VariantBuilder
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_MODEL_PATH
from pipeline.errors import PassError
from pipeline.passes import BuildFiles, PassContext
from pipeline.passes.quantize_static import QuantizeStatic
from pipeline.passes.trt_recipe import TRTQDQ, TRTRecipe
from pipeline.plan import plan_variants
from pipeline.store import ArtifactStore

from .models import TINY_INPUT_SHAPE, save


def recipe_of(out: BuildFiles) -> TRTBuildRecipe:
    return TRTBuildRecipe.from_settings(dict(out.settings))


def test_fp16_recipe_covers_the_batch_sizes_and_ships_the_onnx_unchanged(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    model = tiny_cnn()
    out = TRTRecipe({"precision": "fp16", "batch_sizes": [8, 1, 4]}).apply(
        BuildFiles.onnx(model), tmp_path / "out", PassContext()
    )

    assert out.kind == "tensorrt-recipe"
    assert out.path("model").read_bytes() == model.read_bytes()
    recipe = recipe_of(out)
    profile = recipe.profile["input"]
    assert (profile.min, profile.opt, profile.max) == (
        (1, *TINY_INPUT_SHAPE),
        (8, *TINY_INPUT_SHAPE),
        (8, *TINY_INPUT_SHAPE),
    )
    assert recipe.flags == ("fp16",) and not recipe.tf32 and not recipe.sparse_weights
    assert render_trtexec(recipe) == (
        "trtexec --onnx=model.onnx --minShapes=input:1x8x8x8 --optShapes=input:8x8x8x8 "
        "--maxShapes=input:8x8x8x8 --fp16 --noTF32"
    )


def test_opt_batch_moves_the_tuned_shape(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    out = TRTRecipe({"precision": "fp32", "batch_sizes": [1, 16], "opt_batch": 4}).apply(
        BuildFiles.onnx(tiny_cnn()), tmp_path, PassContext()
    )

    assert recipe_of(out).profile["input"].opt[0] == 4


def test_a_fixed_batch_model_needs_no_profile(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    out = TRTRecipe({"precision": "fp16"}).apply(BuildFiles.onnx(tiny_cnn(batch=1)), tmp_path, PassContext())

    assert recipe_of(out).profile == {}


def _sequence_model(path: Path) -> Path:
    """MatMul over [batch, seq, 4]: a dynamic axis besides the batch."""
    weight = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 2])],
        initializer=[weight],
    )
    return save(graph, path)


def test_other_dynamic_axes_take_the_calibration_size_or_are_refused(tmp_path: Path) -> None:
    model = _sequence_model(tmp_path / "seq.onnx")
    calib = {"x": np.zeros((10, 12, 4), np.float32)}

    out = TRTRecipe({"batch_sizes": [1, 2]}).apply(BuildFiles.onnx(model), tmp_path / "a", PassContext(calib))

    assert recipe_of(out).profile["x"].max == (2, 12, 4)
    with pytest.raises(PassError, match=r"dynamic axes \(1\) besides the batch.*static sizes"):
        TRTRecipe().apply(BuildFiles.onnx(model), tmp_path / "b", PassContext())


def test_int8_needs_a_qdq_model_and_fp16_refuses_one(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    calib = {"input": np.random.default_rng(0).standard_normal((8, *TINY_INPUT_SHAPE)).astype(np.float32)}
    qdq = tmp_path / "qdq.onnx"
    TRTQDQ().run(tiny_cnn(), qdq, PassContext(calibration=calib))

    with pytest.raises(PassError, match="int8-static for TensorRT needs a QDQ model.*trt_qdq"):
        TRTRecipe({"precision": "int8-static"}).apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "a", PassContext())
    with pytest.raises(PassError, match="already quantized"):
        TRTRecipe({"precision": "fp16"}).apply(BuildFiles.onnx(qdq), tmp_path / "b", PassContext())
    out = TRTRecipe({"precision": "best"}).apply(BuildFiles.onnx(qdq), tmp_path / "c", PassContext())
    assert recipe_of(out).flags == ("fp16", "int8")


def test_trt_qdq_writes_symmetric_int8_and_asymmetric_qdq_is_refused(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    calib = {"input": np.abs(np.random.default_rng(1).standard_normal((8, *TINY_INPUT_SHAPE))).astype(np.float32)}
    symmetric, asymmetric = tmp_path / "sym.onnx", tmp_path / "asym.onnx"
    TRTQDQ().run(tiny_cnn(), symmetric, PassContext(calibration=calib))
    QuantizeStatic().run(tiny_cnn(), asymmetric, PassContext(calibration=calib))  # ONNX Runtime's defaults

    graph = onnx.load(str(symmetric)).graph
    zero_points = {n.input[2] for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2}
    assert zero_points and all(not numpy_helper.to_array(i).any() for i in graph.initializer if i.name in zero_points)
    TRTRecipe({"precision": "int8-static"}).apply(BuildFiles.onnx(symmetric), tmp_path / "a", PassContext())
    with pytest.raises(PassError, match="zero point .* is not 0: TensorRT accepts symmetric INT8 only"):
        TRTRecipe({"precision": "int8-static"}).apply(BuildFiles.onnx(asymmetric), tmp_path / "b", PassContext())


def test_trt_qdq_will_not_write_asymmetric_activations() -> None:
    with pytest.raises(pydantic.ValidationError, match="activation_symmetric"):
        TRTQDQ({"activation_symmetric": False})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"precision": "fp32", "dla_core": 0}, "DLA runs FP16 and INT8 only"),
        ({"precision": "fp16", "builder_optimization_level": 9}, "less than or equal to 5"),
        ({"precision": "fp16", "batch_sizes": [0, 4]}, "at least 1"),
        ({"precision": "int4"}, "precision"),
    ],
)
def test_unbuildable_settings_are_refused_before_any_work(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TRTRecipe(config)


def test_dla_and_workspace_and_2to4_reach_the_recipe(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    config = {"precision": "fp16", "sparsity": "2:4", "dla_core": 1, "workspace_mib": 256}
    recipe = recipe_of(TRTRecipe(config).apply(BuildFiles.onnx(tiny_cnn()), tmp_path, PassContext()))

    assert recipe.sparse_weights and recipe.dla_core == 1 and recipe.gpu_fallback and recipe.workspace_mib == 256
    assert "--sparsity=enable --memPoolSize=workspace:256 --useDLACore=1 --allowGPUFallback" in render_trtexec(recipe)


def test_the_planned_chains_build_recipes_on_the_host(tmp_path: Path) -> None:
    with np.load(DEMO_CALIB_PATH) as npz:
        calib = {"image": npz["image"][:16]}
    store = ArtifactStore(tmp_path / "store")
    builder = VariantBuilder(store, PassContext(calibration=calib))
    source = builder.source(DEMO_MODEL_PATH)
    plan = plan_variants(["fp32", "int8-static"], ["tensorrt"], batch_sizes=[1, 8])

    built = {spec.id: builder.build(spec, source) for spec in plan.variants}

    assert set(built) == {"trt-fp32", "trt-int8-static"}
    int8 = built["trt-int8-static"]
    assert int8.build.kind == "tensorrt-recipe"
    assert [p["name"] for p in int8.build.manifest.provenance["passes"]] == ["opset_upgrade", "trt_qdq", "trt_recipe"]
    recipe = TRTBuildRecipe.from_settings(int8.build.manifest.settings)
    assert recipe.precision == "int8-static" and recipe.profile["image"].max == (8, 1, 32, 32)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(int8.build.path("model"))).graph.node)
    assert int8.checked.startswith("not checked on the host") and SETTINGS_KEY in int8.build.manifest.settings
