"""pipeline.passes.ov_convert: ONNX to OpenVINO IR, FP32 weights and FP16-compressed weights."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.runtimes.base import LocalArtifact
from agent.runtimes.ov_runtime import OVRuntime
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH
from pipeline.errors import PassError
from pipeline.passes import BuildFiles, PassContext, get_pass
from pipeline.passes.ov_convert import OVCompressFP16, OVExportFP32

from .models import REPO_ROOT, run_ort, tiny_inputs

pytestmark = pytest.mark.openvino


def run_ir(build: BuildFiles, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The IR's first output through the agent's OpenVINO runtime, strict FP32."""
    with OVRuntime({"inference_precision": "f32"}) as runtime:
        runtime.load(LocalArtifact(build.kind, dict(build.files)))
        return runtime.infer(feeds)[0]


def constant_types(xml: Path) -> set[str]:
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    return {op.get_output_element_type(0).get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"}


def test_declarations() -> None:
    assert get_pass("ov_export_fp32") is OVExportFP32 and get_pass("ov_compress_fp16") is OVCompressFP16
    assert OVExportFP32.provides is None and OVCompressFP16.provides == "fp16"
    for cls in (OVExportFP32, OVCompressFP16):
        assert cls.runtimes == ("openvino",) and cls.serves("openvino") and not cls.serves("onnxruntime")
        assert (cls.input_kind, cls.output_kind) == ("onnx", "openvino-ir")


def test_fp32_ir_keeps_fp32_weights_and_agrees_with_onnx(tiny_cnn: Callable[..., Path], tmp_path: Path) -> None:
    # setup
    source = BuildFiles("onnx", {"model": tiny_cnn()}, {"opset": 17})
    feeds = {"input": tiny_inputs(5)}

    # execute
    build = OVExportFP32().apply(source, tmp_path / "ir", PassContext())

    # assert
    assert build.kind == "openvino-ir"
    assert build.files == {"model": tmp_path / "ir" / "model.xml", "weights": tmp_path / "ir" / "model.bin"}
    assert sorted(p.name for p in (tmp_path / "ir").iterdir()) == ["model.bin", "model.xml"]  # no scratch left
    assert "f16" not in constant_types(build.path("model"))  # save_model's default would have compressed
    assert build.settings["opset"] == 17  # what came before is kept
    assert build.settings["openvino_ir"]["weights"] == "fp32"
    assert build.settings["openvino_ir"]["openvino_version"][:4].isdigit()
    np.testing.assert_allclose(run_ir(build, feeds), run_ort(source.path(), feeds)[0], atol=1e-4, rtol=1e-4)


def test_fp16_ir_stores_half_size_fp16_weights_and_agrees_loosely(
    tiny_cnn: Callable[..., Path], tmp_path: Path
) -> None:
    source = BuildFiles.onnx(tiny_cnn())
    feeds = {"input": tiny_inputs(5)}

    fp32 = OVExportFP32().apply(source, tmp_path / "fp32", PassContext())
    fp16 = OVCompressFP16().apply(source, tmp_path / "fp16", PassContext())

    assert "f16" in constant_types(fp16.path("model"))
    assert fp16.settings["openvino_ir"]["compress_to_fp16"] is True
    ratio = fp16.path("weights").stat().st_size / fp32.path("weights").stat().st_size
    assert 0.45 < ratio < 0.55
    reference = run_ort(source.path(), feeds)[0]
    np.testing.assert_allclose(run_ir(fp16, feeds), reference, atol=2e-2, rtol=2e-2)


def test_demo_model_irs_agree_with_onnx_runtime_on_real_digits(tmp_path: Path) -> None:
    with np.load(DEMO_EVAL_PATH) as data:
        feeds = {"image": data["image"][:64].astype(np.float32)}
    reference = run_ort(DEMO_MODEL_PATH, feeds)[0]

    fp32 = run_ir(OVExportFP32().apply(BuildFiles.onnx(DEMO_MODEL_PATH), tmp_path / "a", PassContext()), feeds)
    fp16 = run_ir(OVCompressFP16().apply(BuildFiles.onnx(DEMO_MODEL_PATH), tmp_path / "b", PassContext()), feeds)

    np.testing.assert_allclose(fp32, reference, atol=1e-3, rtol=0)
    assert np.abs(fp16 - reference).max() < 0.1 * np.abs(reference).max()
    assert (fp16.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.98


def test_an_ir_input_is_a_pass_error(tmp_path: Path) -> None:
    ir = BuildFiles("openvino-ir", {"model": tmp_path / "m.xml", "weights": tmp_path / "m.bin"})

    with pytest.raises(PassError, match="^ov_export_fp32: takes onnx artifacts, not openvino-ir"):
        OVExportFP32().apply(ir, tmp_path / "out", PassContext())


def test_corrupt_onnx_is_a_pass_error_and_writes_nothing(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))

    with pytest.raises(PassError, match=r"^ov_compress_fp16: OpenVINO cannot convert corrupt.onnx: \S") as info:
        OVCompressFP16().apply(BuildFiles.onnx(corrupt), tmp_path / "out", PassContext())

    assert "\n" not in str(info.value) and "Exception from src" not in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_input_is_a_pass_error(tmp_path: Path) -> None:
    with pytest.raises(PassError, match="absent.onnx does not exist"):
        OVExportFP32().apply(BuildFiles.onnx(tmp_path / "absent.onnx"), tmp_path / "out", PassContext())


def test_listing_the_passes_imports_neither_openvino_nor_nncf() -> None:
    code = (
        "import sys, pipeline.passes as p\n"
        "[p.get_pass(n) for n in ('ov_export_fp32', 'ov_compress_fp16', 'nncf_quantize')]\n"
        "assert 'openvino' not in sys.modules and 'nncf' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
