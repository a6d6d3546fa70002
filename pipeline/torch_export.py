"""Exporting a PyTorch module to ONNX, for a user who starts from Python rather than from a file.

torch is never a dependency of edgeprof: it is imported inside :func:`export_torch`, and its
absence is an :class:`InputError` that says what to do. The exporter is the TorchScript one
(``dynamo=False``): it needs nothing beyond torch, honours ``opset_version`` and ``dynamic_axes``
as given, and works from torch 1.x to 2.13. The dynamo exporter, the default since torch 2.9,
needs the onnxscript package and treats ``dynamic_axes`` only partly. torch's notice that the
TorchScript exporter is deprecated is silenced, since this module chose it on purpose.

A trace records one path through ``forward``. The export is therefore checked before it is
returned: ONNX Runtime must reproduce PyTorch's outputs on the example inputs. With a dynamic
batch, it must also reproduce them on the examples stacked twice. That catches a batch size
frozen into a reshape, which would otherwise surface later as a failed benchmark.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputError

__all__ = ["export_torch"]

_INSTALL_HINT = "torch is not installed: pip install torch, or export to ONNX yourself and pass the .onnx file"


def export_torch(
    module: Any,
    example_inputs: Any,
    path: str | Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool = True,
    opset: int = 17,
) -> Path:
    """Export ``module`` (a ``torch.nn.Module``) at ``example_inputs`` to ``path``, check it, and return the path.

    ``example_inputs`` is a tensor or a tuple of tensors, one per name in ``input_names``, with the
    batch on axis 0. ``dynamic_batch`` makes axis 0 of every input and output a ``batch`` dimension.
    """
    try:
        import torch
    except ImportError:
        raise InputError(_INSTALL_HINT) from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"export_torch needs a torch.nn.Module, not {type(module).__name__}")
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise InputError("example_inputs must be a tensor or a tuple of tensors (one per model input)")
    _check_names("input_names", input_names, len(inputs))
    _check_names("output_names", output_names, None)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(input_names) + list(output_names)
    options: dict[str, Any] = {
        "input_names": list(input_names),
        "output_names": list(output_names),
        "opset_version": opset,
        "dynamic_axes": {name: {0: "batch"} for name in names} if dynamic_batch else None,
        "do_constant_folding": True,
    }
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False  # the TorchScript exporter: see the module docstring
    label = type(module).__name__
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "legacy TorchScript-based ONNX export"
            torch.onnx.export(module, inputs, str(out), **options)
    except Exception as exc:  # torch raises many types here; each means "this module did not export"
        detail = " ".join(str(exc).split())[:300]
        raise InputError(
            f"torch.onnx.export failed for {label} at opset {opset}: {type(exc).__name__}: {detail}; "
            "check that the example inputs fit forward(), or export to ONNX yourself and pass the .onnx file"
        ) from exc
    _check_export(torch, module, inputs, out, list(output_names), dynamic_batch, label)
    return out


def _check_names(what: str, names: Sequence[str], expected: int | None) -> None:
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names) or not names:
        raise InputError(f"{what} must be a list of non-empty strings, not {names!r}")
    if len(set(names)) != len(names):
        raise InputError(f"{what} holds a name twice: {list(names)}")
    if expected is not None and len(names) != expected:
        raise InputError(f"{what} has {len(names)} names but example_inputs has {expected} tensors: give one each")


def _check_export(
    torch: Any, module: Any, inputs: tuple, path: Path, output_names: list[str], dynamic_batch: bool, label: str
) -> None:
    import onnx
    import onnxruntime as ort

    graph_outputs = [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]
    if graph_outputs != output_names:
        raise InputError(
            f"{label} exported outputs {graph_outputs} but output_names gave {output_names}: "
            "give one name per tensor that forward() returns"
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = [i.name for i in session.get_inputs()]
    cases = [("the example inputs", inputs)]
    if dynamic_batch:
        cases.append(("the example inputs stacked twice (batch x2)", tuple(torch.cat([t, t]) for t in inputs)))
    was_training = module.training
    module.eval()
    try:
        for case, batch in cases:
            with torch.no_grad():
                expected = _as_arrays(module(*batch))
            try:
                got = session.run(
                    output_names, {name: t.detach().cpu().numpy() for name, t in zip(feeds, batch, strict=True)}
                )
            except Exception as exc:  # ONNX Runtime's own error types
                raise InputError(_mismatch(label, case, f"ONNX Runtime failed: {exc}")) from exc
            for name, want, have in zip(output_names, expected, got, strict=True):
                if want.shape != have.shape:
                    raise InputError(
                        _mismatch(label, case, f"'{name}' has shape {list(have.shape)}, not {list(want.shape)}")
                    )
                tolerance = 1e-4 * max(1.0, float(np.abs(want).max(initial=0.0)))
                if not np.allclose(have, want, rtol=1e-3, atol=tolerance):
                    error = float(np.abs(have.astype(np.float64) - want).max())
                    raise InputError(_mismatch(label, case, f"'{name}' differs from PyTorch's by up to {error:.3g}"))
    finally:
        module.train(was_training)


def _as_arrays(result: Any) -> list[np.ndarray]:
    values = result if isinstance(result, (tuple, list)) else (result,)
    return [v.detach().cpu().numpy() for v in values]


def _mismatch(label: str, case: str, problem: str) -> str:
    return (
        f"the ONNX export of {label} does not reproduce PyTorch on {case}: {problem}; a trace keeps one path "
        "through forward(): avoid Python branches on tensor values and fixed sizes in reshapes (use "
        "x.flatten(1) or x.view(x.size(0), -1)), or pass dynamic_batch=False"
    )
