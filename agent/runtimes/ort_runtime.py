"""ONNX Runtime backend (CPU by default; CUDA and TensorRT execution providers by option)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.runtimes.base import InputSpec, Runtime

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


class ORTRuntime(Runtime):
    """Options: ``providers`` (list, default CPU), ``intra_op_num_threads`` (int, 0 = ORT's default)."""

    name = "onnxruntime"

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self._session: Any = None
        self._inputs: List[InputSpec] = []

    @staticmethod
    def version() -> str:
        try:
            import onnxruntime
        except ImportError as exc:
            raise RuntimeLoadError(
                "onnxruntime is not installed on this device: pip install 'edgeprof[agent]'"
            ) from exc
        return onnxruntime.__version__

    def load(self, model_path: Path) -> None:
        self.version()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        threads = int(self.options.get("intra_op_num_threads", 0))
        if threads:
            opts.intra_op_num_threads = threads
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
            raise RuntimeLoadError(
                "ONNX Runtime cannot load %s: %s" % (Path(model_path).name, _first_line(exc))
            ) from exc
        self._inputs = [
            InputSpec(i.name, list(i.shape), np.dtype(_ORT_TYPES.get(i.type, np.float32)))
            for i in self._session.get_inputs()
        ]

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

    def close(self) -> None:
        self._session = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
