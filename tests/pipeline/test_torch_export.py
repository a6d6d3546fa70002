"""pipeline.torch_export: real exports of small torch modules, checked in ONNX Runtime; torch stays optional."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pipeline.errors import InputError
from pipeline.torch_export import export_torch


def test_without_torch_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` sees when it is not installed
    with pytest.raises(InputError, match=r"^torch is not installed: pip install torch, or export to ONNX yourself"):
        export_torch(object(), (), tmp_path / "m.onnx", input_names=["x"], output_names=["y"])


@pytest.fixture()
def torch():
    return pytest.importorskip("torch", reason="torch is not installed here (pip install torch to run these tests)")


def _mlp(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 3))


def _run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_export_with_a_dynamic_batch_matches_torch(torch, tmp_path: Path) -> None:
    module = _mlp(torch)
    path = export_torch(module, torch.randn(2, 8), tmp_path / "sub" / "mlp.onnx", input_names=["x"], output_names=["y"])

    model = onnx.load(str(path))
    assert path == tmp_path / "sub" / "mlp.onnx"
    assert [(o.domain or "", o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [("", 17)]
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["y"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = torch.randn(5, 8)
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(_run(path, {"x": x.numpy()})[0], want, rtol=1e-4, atol=1e-5)


def test_fixed_batch_and_opset(torch, tmp_path: Path) -> None:
    path = export_torch(
        _mlp(torch),
        (torch.randn(4, 8),),
        tmp_path / "m.onnx",
        input_names=["x"],
        output_names=["y"],
        dynamic_batch=False,
        opset=14,
    )
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert any(o.version == 14 for o in model.opset_import if o.domain in ("", "ai.onnx"))


def test_two_inputs_two_outputs_and_training_mode_restored(torch, tmp_path: Path) -> None:
    class Masked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(50, 6)
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, ids, mask):
            h = self.drop(self.embed(ids)) * mask.unsqueeze(-1).float()
            return h.sum(1), mask.sum(1)

    module = Masked().train()
    ids, mask = torch.randint(0, 50, (3, 7)), torch.ones(3, 7, dtype=torch.int64)
    path = export_torch(
        module,
        (ids, mask),
        tmp_path / "m.onnx",
        input_names=["input_ids", "attention_mask"],
        output_names=["pooled", "n"],
    )
    assert module.training  # put back as it was
    pooled, count = _run(path, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    assert pooled.shape == (3, 6) and count.dtype == np.int64
    np.testing.assert_array_equal(count, [7, 7, 7])


def test_a_batch_size_frozen_into_a_reshape_is_caught(torch, tmp_path: Path) -> None:
    class Frozen(torch.nn.Module):
        def forward(self, x):
            return x.reshape(int(x.shape[0]), -1)  # int(): the trace records the example's batch size

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # torch warns the user; the check must catch it
        with pytest.raises(InputError, match=r"stacked twice .*shape \[2, 24\], not \[4, 12\].*x\.flatten\(1\)"):
            export_torch(Frozen(), torch.randn(2, 3, 4), tmp_path / "m.onnx", input_names=["x"], output_names=["y"])
        path = export_torch(
            Frozen(),
            torch.randn(2, 3, 4),
            tmp_path / "m.onnx",
            input_names=["x"],
            output_names=["y"],
            dynamic_batch=False,
        )
    assert path.is_file()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"input_names": ["a", "b"]}, "2 names but example_inputs has 1"),
        ({"input_names": "x"}, "list of non-empty strings"),
        ({"output_names": ["y", "y"]}, "a name twice"),
        ({"output_names": ["y", "z"]}, "number of output names provided (2) exceeded number of outputs (1)"),
    ],
)
def test_bad_names(torch, tmp_path: Path, kwargs: dict, fragment: str) -> None:
    args = {"input_names": ["x"], "output_names": ["y"], **kwargs}
    with pytest.raises(InputError) as info:
        export_torch(_mlp(torch), torch.randn(2, 8), tmp_path / "m.onnx", **args)
    assert fragment in str(info.value)


def test_unnamed_outputs(torch, tmp_path: Path) -> None:
    class Two(torch.nn.Module):
        def forward(self, x):
            return x + 1, x * 2

    with pytest.raises(InputError, match=r"exported outputs \['y', '\w+'\] but output_names gave \['y'\]"):
        export_torch(Two(), torch.randn(2, 3), tmp_path / "m.onnx", input_names=["x"], output_names=["y"])


def test_not_a_module_and_not_tensors(torch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs a torch.nn.Module, not function"):
        export_torch(lambda x: x, torch.randn(2, 8), tmp_path / "m.onnx", input_names=["x"], output_names=["y"])
    with pytest.raises(InputError, match="tensor or a tuple of tensors"):
        export_torch(_mlp(torch), [np.zeros((2, 8))], tmp_path / "m.onnx", input_names=["x"], output_names=["y"])


def test_inputs_that_do_not_fit_forward(torch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"torch.onnx.export failed for Sequential at opset 17: RuntimeError"):
        export_torch(_mlp(torch), torch.randn(2, 5), tmp_path / "m.onnx", input_names=["x"], output_names=["y"])
