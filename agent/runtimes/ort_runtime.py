"""ONNX Runtime backend (CPU by default; CUDA and TensorRT execution providers by option)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol.dtypes import numpy_dtype_name
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ORTRuntime(Runtime):
    """Options: ``providers`` (list, default CPU), ``intra_op_num_threads`` (int, default: the
    usable CPUs), ``inter_op_num_threads`` (int, default 1)."""

    name = "onnxruntime"
    short_name = "ort"
    artifact_kinds = ("onnx",)
    precisions = ("fp32", "fp16", "int8-static", "int8-dynamic")
    summary = "ONNX Runtime (CPU; CUDA/TensorRT execution providers where installed)"
    # one thread: small models often run faster without the thread pool's hand-offs
    search_options = (("1t", {"intra_op_num_threads": 1}),)

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self._session: Any = None
        self._inputs: List[InputSpec] = []
        self._settings: Dict[str, Any] = {}

    @staticmethod
    def version() -> str:
        try:
            import onnxruntime
        except ImportError as exc:
            raise RuntimeLoadError(
                "onnxruntime is not installed on this device: pip install 'edgeprof[agent]'"
            ) from exc
        return onnxruntime.__version__

    def load(self, artifact: LocalArtifact) -> None:
        self.check_kind(artifact)
        self.version()
        import onnxruntime as ort

        model_path = artifact.path("model")
        opts = ort.SessionOptions()
        # set, never left to ORT's own choice, so the record can say what ran
        threads = int(self.options.get("intra_op_num_threads") or usable_cpus())
        inter = int(self.options.get("inter_op_num_threads") or 1)
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = inter
        opts.log_severity_level = 3
        wanted = list(self.options.get("providers") or ["CPUExecutionProvider"])
        have = ort.get_available_providers()
        missing = [p for p in wanted if p not in have]
        if missing:
            raise RuntimeLoadError(
                "ONNX Runtime on this device lacks %s (it has %s): install the matching onnxruntime build"
                % (", ".join(missing), ", ".join(have))
            )
        try:
            self._session = ort.InferenceSession(str(model_path), sess_options=opts, providers=wanted)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            raise RuntimeLoadError("ONNX Runtime cannot load %s: %s" % (model_path.name, _first_line(exc))) from exc
        self._inputs = [
            InputSpec(i.name, list(i.shape), np.dtype(numpy_dtype_name(i.type) or "float32"))
            for i in self._session.get_inputs()
        ]
        self._settings = {
            "providers": list(self._session.get_providers()),
            "intra_op_num_threads": threads,
            "inter_op_num_threads": inter,
        }

    @property
    def inputs(self) -> List[InputSpec]:
        return self._inputs

    def infer(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        if self._session is None:
            raise InferenceError("infer() called before load()")
        try:
            return self._session.run(None, feeds)
        except Exception as exc:
            raise InferenceError("ONNX Runtime failed to run the model: %s" % _first_line(exc)) from exc

    def settings(self) -> Dict[str, Any]:
        return dict(self._settings)

    def close(self) -> None:
        self._session = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
