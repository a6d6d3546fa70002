"""pipeline.passes.nncf_quantize (+ nncf_accuracy): INT8 OpenVINO IRs by NNCF, accuracy-controlled
under a budget."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.runtimes.base import LocalArtifact
from agent.runtimes.ov_runtime import OVRuntime
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH
from pipeline.errors import PassError
from pipeline.passes import BuildFiles, PassContext, get_pass
from pipeline.passes.nncf_quantize import NNCFQuantize

from .models import build_tiny_attention, run_ort, tiny_inputs

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.skipif(
        importlib.util.find_spec("nncf") is None, reason="nncf is not installed: .venv/bin/pip install nncf"
    ),
]


def op_counts(build: BuildFiles) -> dict[str, int]:
    import openvino as ov

    counts: dict[str, int] = {}
    for op in ov.Core().read_model(str(build.path("model"))).get_ops():
        counts[op.get_type_name()] = counts.get(op.get_type_name(), 0) + 1
    return counts


def run_ir(build: BuildFiles, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, object]]:
    with OVRuntime({"inference_precision": "f32"}) as runtime:
        runtime.load(LocalArtifact(build.kind, dict(build.files)))
        return runtime.infer(feeds)[0], runtime.settings()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_declarations() -> None:
    assert get_pass("nncf_quantize") is NNCFQuantize
    assert NNCFQuantize.provides == "int8-static" and NNCFQuantize.runtimes == ("openvino",)
    assert (NNCFQuantize.input_kind, NNCFQuantize.output_kind) == ("onnx", "openvino-ir")


def test_tiny_cnn_becomes_an_int8_ir_that_runs_int8_kernels(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    # setup
    source = BuildFiles.onnx(tiny_cnn())
    feeds = {"input": tiny_inputs(6, seed=9)}

    # execute
    build = NNCFQuantize().apply(source, tmp_path / "int8", PassContext(calibration={"input": tiny_inputs(20)}))

    # assert: FakeQuantize in the IR, int8 weights, and the CPU plugin really runs u8/i8 kernels
    assert build.kind == "openvino-ir" and sorted(build.files) == ["model", "weights"]
    assert op_counts(build).get("FakeQuantize", 0) >= 1
    logits, settings = run_ir(build, feeds)
    assert set(settings["compute_layer_precisions"]) & {"u8", "i8"}  # type: ignore[arg-type]
    assert cosine(logits, run_ort(source.path(), feeds)[0]) > 0.99
    nncf = build.settings["nncf"]
    assert nncf["model_type"] == "default" and nncf["preset"] == "performance"
    assert nncf["subset_size"] == 20 and nncf["subset_size_requested"] == 300  # capped by the samples given
    assert nncf["calibration_item_batch"] == 1
    assert nncf["graph"]["quantized_operations"] and nncf["graph"]["float_operations"] == []
    assert nncf["accuracy_control"] == {"applied": False, "reason": "no accuracy budget given (--max-accuracy-loss)"}
    assert nncf["nncf_version"][:1].isdigit() and nncf["openvino_version"][:4].isdigit()


def test_demo_model_int8_keeps_its_accuracy_on_real_digits(tmp_path: Path) -> None:
    with np.load(DEMO_CALIB_PATH) as calib, np.load(DEMO_EVAL_PATH) as ev:
        calibration = {"image": calib["image"]}
        images, labels = ev["image"][:200].astype(np.float32), ev["labels"][:200]

    build = NNCFQuantize({"subset_size": 100}).apply(
        BuildFiles.onnx(DEMO_MODEL_PATH), tmp_path / "int8", PassContext(calibration=calibration)
    )

    fp32_top1 = float((run_ort(DEMO_MODEL_PATH, {"image": images})[0].argmax(1) == labels).mean())
    int8_top1 = float((run_ir(build, {"image": images})[0].argmax(1) == labels).mean())
    assert int8_top1 >= fp32_top1 - 0.02
    assert build.settings["nncf"]["subset_size"] == 100


def test_attention_graph_is_quantized_as_a_transformer_when_auto(tmp_path: Path) -> None:
    source = BuildFiles.onnx(build_tiny_attention(tmp_path / "attention.onnx"))
    ctx = PassContext(calibration={"hidden": np.random.default_rng(0).normal(size=(16, 8, 16)).astype(np.float32)})

    auto = NNCFQuantize().apply(source, tmp_path / "auto", ctx)
    plain = NNCFQuantize({"model_type": "none"}).apply(source, tmp_path / "none", ctx)

    assert auto.settings["nncf"]["model_type"] == "transformer"
    assert auto.settings["nncf"]["preset"] == "mixed"  # NNCF's default for transformers
    assert "1 attention block(s)" in auto.settings["nncf"]["model_type_evidence"]
    assert plain.settings["nncf"]["model_type"] == "default" and plain.settings["nncf"]["preset"] == "performance"
    # the scheme reached NNCF: the transformer one places its quantizers differently
    assert op_counts(auto)["FakeQuantize"] != op_counts(plain)["FakeQuantize"]


def test_a_tight_budget_makes_accuracy_control_revert_operations(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    # setup: plain INT8 of the tiny CNN keeps cosine ~0.997 on these inputs; a 0.001 budget is tighter
    ctx = PassContext(
        calibration={"input": tiny_inputs(20)}, evaluation={"input": tiny_inputs(30, seed=5)}, max_accuracy_loss=0.001
    )

    # execute
    build = NNCFQuantize().apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "int8", ctx)

    # assert
    report = build.settings["nncf"]["accuracy_control"]
    assert report["applied"] is True and report["drop_type"] == "absolute" and report["max_drop"] == 0.001
    assert report["metric"] == "mean cosine to the FP32 outputs"
    assert report["reference_from"] == "this pass (OpenVINO FP32)"
    assert report["int8_metric_before_control"] < 1 - 0.001  # plain INT8 missed the budget
    assert report["reverted_operations"], report
    assert report["within_budget"] and report["drop"] <= 0.001
    graph = build.settings["nncf"]["graph"]
    assert set(report["reverted_operations"]) <= set(graph["float_operations"])
    assert graph["quantized_operations"]  # still an INT8 build


def test_accuracy_control_scores_top1_against_labels(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    source = tiny_cnn()
    evaluation = tiny_inputs(30, seed=5)
    labels = run_ort(source, {"input": evaluation})[0].argmax(axis=1)  # FP32 is right on all of them
    ctx = PassContext(
        calibration={"input": tiny_inputs(20)}, evaluation={"input": evaluation}, labels=labels, max_accuracy_loss=0.5
    )

    report = NNCFQuantize().apply(BuildFiles.onnx(source), tmp_path / "int8", ctx).settings["nncf"]["accuracy_control"]

    assert report["metric"] == "top-1 against labels"
    assert report["fp32_metric"] == pytest.approx(1.0)
    assert report["reverted_operations"] == [] and report["within_budget"]


@pytest.mark.parametrize(
    ("budget", "evaluation", "config", "reason"),
    [
        (0.01, None, {}, "no evaluation data given (--eval)"),
        (None, tiny_inputs(4), {}, "no accuracy budget given (--max-accuracy-loss)"),
        (0.01, tiny_inputs(4), {"accuracy_control": "off"}, "off in the pass config"),
    ],
)
def test_without_budget_or_data_the_settings_say_why_there_was_no_control(
    budget: float | None,
    evaluation: np.ndarray | None,
    config: dict[str, object],
    reason: str,
    tiny_cnn: Callable[..., Path],
    tmp_path: Path,
) -> None:
    ctx = PassContext(
        calibration={"input": tiny_inputs(8)},
        evaluation=None if evaluation is None else {"input": evaluation},
        max_accuracy_loss=budget,
    )

    build = NNCFQuantize({"subset_size": 8, **config}).apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "int8", ctx)

    assert build.settings["nncf"]["accuracy_control"] == {"applied": False, "reason": reason}


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (PassContext(), r"^nncf_quantize: static quantization needs calibration data; pass --calib"),
        (PassContext(calibration={"image": np.zeros((4, 8, 8, 8), np.float32)}), "no array for input.*it has image"),
        (
            PassContext(
                calibration={"input": tiny_inputs(8)},
                evaluation={"image": np.zeros((4, 8, 8, 8), np.float32)},
                max_accuracy_loss=0.01,
            ),
            "the evaluation data has no array for input.*input.*--eval",
        ),
        (
            PassContext(
                calibration={"input": tiny_inputs(8)},
                evaluation={"input": tiny_inputs(6)},
                labels=np.zeros(5, np.int64),
                max_accuracy_loss=0.01,
            ),
            "the evaluation data has 6 samples but 5 labels",
        ),
    ],
)
def test_data_that_does_not_fit_is_a_pass_error(
    ctx: PassContext, message: str, tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    with pytest.raises(PassError, match=message):
        NNCFQuantize().apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "int8", ctx)

    assert not (tmp_path / "int8" / "model.xml").exists()


def test_ignored_patterns_keep_those_operations_in_floating_point(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    ctx = PassContext(calibration={"input": tiny_inputs(8)})

    build = NNCFQuantize({"ignored_patterns": ["g/.*"]}).apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "int8", ctx)

    assert build.settings["nncf"]["graph"]["float_operations"] == ["g/WithoutBiases"]  # fc1, the first Gemm
    assert build.settings["nncf"]["ignored_patterns"] == ["g/.*"]


def test_an_ignored_pattern_that_matches_nothing_is_a_pass_error(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    ctx = PassContext(calibration={"input": tiny_inputs(8)})

    with pytest.raises(PassError, match=r"^nncf_quantize: NNCF's quantize failed: .*no_such_layer"):
        NNCFQuantize({"ignored_patterns": ["no_such_layer.*"]}).apply(BuildFiles.onnx(tiny_cnn()), tmp_path / "x", ctx)


def test_an_ir_input_is_a_pass_error(tmp_path: Path) -> None:
    ir = BuildFiles("openvino-ir", {"model": tmp_path / "m.xml", "weights": tmp_path / "m.bin"})

    with pytest.raises(PassError, match="^nncf_quantize: takes onnx artifacts, not openvino-ir"):
        NNCFQuantize().apply(ir, tmp_path / "out", PassContext())


@pytest.mark.parametrize(
    "config",
    [{"model_type": "bert"}, {"preset": "fast"}, {"subset_size": 0}, {"accuracy_control": "on"}, {"nope": 1}],
)
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NNCFQuantize(config)
