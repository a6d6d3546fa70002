"""ONNX Runtime backend (CPU by default; CUDA and TensorRT execution providers by option).

The ``providers`` option lists execution providers in priority order: a node the first cannot run
goes to the next, and ONNX Runtime keeps the CPU provider last. Entries are provider names, the
short names of :data:`PROVIDER_ALIASES` (``cuda``, ``tensorrt``), or ``[name, {options}]`` pairs. The
settings record what the session really registered (``get_providers``) and with which options.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol.dtypes import numpy_dtype_name
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime

#: ``--ort-providers`` names -> the execution providers they stand for, in priority order
PROVIDER_ALIASES: Dict[str, Tuple[str, ...]] = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
}
#: TensorRT EP options a variant's precision needs: QDQ models need the INT8 builder flag on TensorRT 8,
#: and an FP16 graph runs as FP16 only with FP16 allowed
_TRT_EP_OPTIONS = {"fp16": {"trt_fp16_enable": True}, "int8-static": {"trt_int8_enable": True}}


def provider_list(alias: str, precision: str = "fp32") -> List[Any]:
    """The ``providers`` option for one variant: the alias's providers, with the TensorRT EP's
    precision options where the variant's precision needs them."""
    found: List[Any] = []
    for name in PROVIDER_ALIASES[alias]:
        options = _TRT_EP_OPTIONS.get(precision) if name == "TensorrtExecutionProvider" else None
        found.append([name, dict(options)] if options else name)
    return found


def _session_providers(wanted: List[Any]) -> List[Any]:
    """Option entries -> what ``InferenceSession(providers=...)`` takes (names, or (name, options))."""
    out: List[Any] = []
    for entry in wanted:
        if isinstance(entry, str) and entry in PROVIDER_ALIASES:
            out.extend(PROVIDER_ALIASES[entry])
        elif isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict):
            out.append((str(entry[0]), {str(k): v for k, v in entry[1].items()}))
        else:
            raise RuntimeLoadError(
                "onnxruntime runtime option providers takes names or [name, {options}] pairs, not %r" % (entry,)
            )
    return list(dict.fromkeys(out)) if all(isinstance(p, str) for p in out) else out


def _provider_name(entry: Any) -> str:
    return entry if isinstance(entry, str) else entry[0]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ORTRuntime(Runtime):
    """Options: ``providers`` (list, default CPU; see the module docstring), ``intra_op_num_threads``
    (int, default: the usable CPUs), ``inter_op_num_threads`` (int, default 1)."""

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
        wanted = _session_providers(list(self.options.get("providers") or ["CPUExecutionProvider"]))
        have = ort.get_available_providers()
        missing = [_provider_name(p) for p in wanted if _provider_name(p) not in have]
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
        used = list(self._session.get_providers())
        self._settings = {
            "providers": used,
            "intra_op_num_threads": threads,
            "inter_op_num_threads": inter,
        }
        if used != ["CPUExecutionProvider"]:
            self._settings["provider_options"] = _provider_options(self._session, used)

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


def _provider_options(session: Any, used: List[str]) -> Dict[str, Dict[str, str]]:
    """The options each non-CPU provider runs with, as ONNX Runtime reports them."""
    try:
        options = session.get_provider_options()
    except Exception:  # older releases
        return {}
    return {
        name: {str(k): str(v) for k, v in dict(options.get(name, {})).items()}
        for name in used
        if name != "CPUExecutionProvider"
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
