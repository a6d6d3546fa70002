"""pipeline.passes (registry) and pipeline.passes.base (the Pass seam): behaviour every pass shares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import PassError
from pipeline.passes import PASSES, BuildFiles, PassContext, available_passes, get_pass
from pipeline.passes.base import Pass, atomic_output

from .models import build_tiny_cnn

EXPECTED = {
    "opset_upgrade",
    "quantize_static",
    "quantize_dynamic",
    "fp16",
    "prune_magnitude",
    "prune_channels",
    "prune_2to4",
    "ov_export_fp32",
    "ov_compress_fp16",
    "nncf_quantize",
    "trt_qdq",
    "trt_recipe",
}


def test_available_passes_lists_every_registered_pass_sorted() -> None:
    names = available_passes()

    assert names == sorted(names)
    assert set(names) == EXPECTED == set(PASSES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_key_matches_the_class_and_its_config_is_documented(name: str) -> None:
    cls = get_pass(name)

    assert issubclass(cls, Pass)
    assert cls.name == name
    assert cls.provides is None or isinstance(cls.provides, str)
    assert cls.sparsity in (None, "unstructured", "2:4", "structured")
    for field_name, field in cls.Config.model_fields.items():
        assert field.description, f"{name}.{field_name} has no description"
    assert cls.config_schema()["additionalProperties"] is False
    cls()  # the defaults form a valid config


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unknown_config_key_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        get_pass(name)({"no_such_option": 1})


@pytest.mark.parametrize("config", ["sparsity=0.5", ["sparsity", 0.5], 3])
def test_config_that_is_not_a_mapping_is_a_value_error(config: object) -> None:
    with pytest.raises(ValueError):
        get_pass("prune_magnitude")(config)  # type: ignore[arg-type]


def test_unknown_pass_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        get_pass("nope")

    for name in EXPECTED:
        assert name in str(info.value)


def test_pass_modules_and_vendor_quantizer_load_lazily() -> None:
    code = (
        "import sys, pipeline.passes as p\n"
        "assert 'pipeline.passes.quantize_static' not in sys.modules\n"
        "p.get_pass('quantize_static'); p.get_pass('fp16')\n"
        "assert 'onnxruntime.quantization' not in sys.modules\n"
        "assert 'onnxruntime.transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corrupt_input_file_is_a_pass_error(name: str, tmp_path: Path) -> None:
    # setup
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    out = tmp_path / "out"
    out.mkdir()
    ctx = PassContext(calibration={"input": np.zeros((4, 8, 8, 8), np.float32)})

    # execute: through the seam every pass has, whatever its output kind
    with pytest.raises(PassError, match=rf"^{name}: .*(cannot read|not a valid ONNX model|cannot convert)") as info:
        get_pass(name)().apply(BuildFiles.onnx(corrupt), out, ctx)

    # assert
    assert "corrupt.onnx" in str(info.value)
    assert list(out.iterdir()) == []  # no output and no temp file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.onnx", "out"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_missing_input_file_is_a_pass_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(PassError, match="does not exist"):
        get_pass(name)().apply(BuildFiles.onnx(tmp_path / "absent.onnx"), tmp_path, PassContext())


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous")

    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_bytes(b"half written")
        raise RuntimeError("pass failed")
    assert out.read_bytes() == b"previous"

    with atomic_output(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_pass_does_not_modify_its_input(tmp_path: Path) -> None:
    source = build_tiny_cnn(tmp_path / "tiny.onnx")
    before = source.read_bytes()

    get_pass("prune_magnitude")().run(source, tmp_path / "pruned.onnx", PassContext())

    assert source.read_bytes() == before
