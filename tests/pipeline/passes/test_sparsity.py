"""pipeline.passes.sparsity: what each kind of zeros buys, per runtime."""

from __future__ import annotations

import pytest

from pipeline.passes import declared_passes
from pipeline.passes.sparsity import SPARSITY_BENEFITS, can_speed_up, sparsity_note


def test_every_pruning_pass_declares_a_kind_the_table_knows() -> None:
    kinds = {cls.sparsity for cls in declared_passes().values() if cls.sparsity is not None}

    assert kinds == set(SPARSITY_BENEFITS) == {"structured", "2:4", "unstructured"}


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino", "tensorrt"])
def test_structured_pruning_is_faster_everywhere(runtime: str) -> None:
    assert can_speed_up("structured", runtime)
    assert "smaller" in sparsity_note("structured", runtime)


def test_2to4_names_tensorrt_its_flag_and_the_gpu_generation() -> None:
    note = sparsity_note("2:4", "tensorrt")

    assert can_speed_up("2:4", "tensorrt")
    for needed in ("--sparsity=enable", "compute capability 8.0", "Jetson Orin", "expect dense speed"):
        assert needed in note


@pytest.mark.parametrize(
    ("kind", "runtime"), [("2:4", "onnxruntime"), ("2:4", "openvino"), ("unstructured", "tensorrt")]
)
def test_zeros_a_dense_kernel_multiplies_promise_no_speed_up(kind: str, runtime: str) -> None:
    note = sparsity_note(kind, runtime)

    assert not can_speed_up(kind, runtime)
    assert runtime in note and "compresses better" in note
    assert "faster" not in note


def test_dense_build_has_no_note_and_an_unknown_kind_is_a_value_error() -> None:
    assert sparsity_note(None, "onnxruntime") == "" and not can_speed_up(None, "tensorrt")
    with pytest.raises(ValueError, match="unknown sparsity kind 'block'.*structured, 2:4, unstructured"):
        sparsity_note("block", "tensorrt")
