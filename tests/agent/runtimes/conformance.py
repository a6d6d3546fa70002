"""What every runtime backend must do, as a template each backend's test module subclasses (NNCF's
``tests/cross_fw/test_templates`` style).

A subclass sets :attr:`RuntimeConformance.runtime_class` and provides an ``artifact`` fixture (the
demo model in the kind under test). The template loads it, runs the demo's real evaluation images
and checks the outputs against ONNX Runtime's on the same ONNX model, the declarations the host
plans from, the settings the record carries, and the errors the harness relies on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol.artifacts import ARTIFACT_KINDS
from agent.runtimes import declared_runtimes, get_runtime
from agent.runtimes.base import LocalArtifact, Runtime
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_INPUT_NAME, DEMO_MODEL_PATH

KNOWN_PRECISIONS = {"fp32", "fp16", "bf16", "int8-static", "int8-dynamic", "best"}


def demo_images(count: int = 16) -> np.ndarray:
    """The first ``count`` held-out digits, preprocessed to the demo model's input."""
    with np.load(DEMO_EVAL_PATH) as data:
        return np.ascontiguousarray(data[DEMO_INPUT_NAME][:count], dtype=np.float32)


def ort_reference(images: np.ndarray, model_path: Path = DEMO_MODEL_PATH) -> np.ndarray:
    """ONNX Runtime's CPU logits for ``images``: the reference every backend must agree with."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {DEMO_INPUT_NAME: images})[0])


class RuntimeConformance:
    """Subclass as ``TestXConformance`` with ``runtime_class`` set and an ``artifact`` fixture."""

    runtime_class: ClassVar[type[Runtime]]
    #: how far this backend's FP32 logits may stray from ONNX Runtime's (absolute)
    atol: ClassVar[float] = 1e-4
    #: runtime options for the conformance runs
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def artifact(self, tmp_path: Path) -> LocalArtifact:
        raise NotImplementedError

    @pytest.fixture
    def loaded(self, artifact: LocalArtifact) -> Any:
        runtime = self.runtime_class(dict(self.options))
        runtime.load(artifact)
        yield runtime
        runtime.close()

    def test_declarations_are_what_the_host_plans_from(self) -> None:
        cls = self.runtime_class
        assert cls.name and cls.short_name and cls.summary
        assert cls.artifact_kinds and set(cls.artifact_kinds) <= set(ARTIFACT_KINDS)
        assert cls.precisions and set(cls.precisions) <= KNOWN_PRECISIONS
        assert get_runtime(cls.name) is cls
        assert declared_runtimes()[cls.name] is cls

    def test_version_names_the_vendor_release(self) -> None:
        version = self.runtime_class.version()
        assert isinstance(version, str) and version[:1].isdigit()

    def test_inputs_are_named_shaped_and_typed(self, loaded: Runtime) -> None:
        (spec,) = loaded.inputs
        assert spec.name == DEMO_INPUT_NAME
        assert spec.dtype == np.float32
        assert spec.shape[1:] == [1, 32, 32]
        assert not isinstance(spec.shape[0], int)  # the demo's batch axis is dynamic

    def test_outputs_agree_with_onnx_runtime(self, loaded: Runtime) -> None:
        images = demo_images()
        reference = ort_reference(images)

        (logits,) = loaded.infer({DEMO_INPUT_NAME: images})

        assert isinstance(logits, np.ndarray) and logits.shape == reference.shape == (16, 10)
        np.testing.assert_allclose(logits, reference, atol=self.atol, rtol=0)
        assert (logits.argmax(axis=1) == reference.argmax(axis=1)).all()

    @pytest.mark.parametrize("batch", [1, 8])
    def test_any_batch_size_runs_on_one_loaded_model(self, loaded: Runtime, batch: int) -> None:
        (logits,) = loaded.infer({DEMO_INPUT_NAME: demo_images(batch)})
        assert logits.shape == (batch, 10)

    def test_settings_are_a_json_record(self, loaded: Runtime) -> None:
        settings = loaded.settings()
        assert settings
        assert json.loads(json.dumps(settings)) == settings

    def test_wrong_input_shape_is_an_inference_error(self, loaded: Runtime) -> None:
        with pytest.raises(InferenceError, match="failed to run"):
            loaded.infer({DEMO_INPUT_NAME: np.zeros((1, 3, 28, 28), np.float32)})

    def test_infer_before_load_or_after_close_is_an_inference_error(self, artifact: LocalArtifact) -> None:
        runtime = self.runtime_class(dict(self.options))
        with pytest.raises(InferenceError, match="before load"):
            runtime.infer({DEMO_INPUT_NAME: demo_images(1)})
        with runtime:
            runtime.load(artifact)
        with pytest.raises(InferenceError, match="before load"):
            runtime.infer({DEMO_INPUT_NAME: demo_images(1)})

    def test_an_artifact_kind_it_does_not_run_is_refused(self) -> None:
        recipe = LocalArtifact("tensorrt-recipe", {"model": DEMO_MODEL_PATH})
        if recipe.kind in self.runtime_class.artifact_kinds:
            pytest.skip(f"{self.runtime_class.name} runs tensorrt-recipe artifacts")
        with pytest.raises(RuntimeLoadError, match="not tensorrt-recipe"):
            self.runtime_class(dict(self.options)).load(recipe)
