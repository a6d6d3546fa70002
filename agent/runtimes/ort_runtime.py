"""ONNX Runtime backend (CPU by default; CUDA and TensorRT execution providers by option).

The ``providers`` option lists execution providers in priority order: a node the first cannot run
goes to the next, and ONNX Runtime keeps the CPU provider last. Entries are provider names, the
short names of :data:`PROVIDER_ALIASES` (``cuda``, ``tensorrt``), or ``[name, {options}]`` pairs. The
settings record what the session really registered (``get_providers``) and with which options.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol import LayerTime
from agent.protocol.dtypes import numpy_dtype_name
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime
from agent.runtimes.layer_profile import top_operators

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
    threads_option = "intra_op_num_threads"

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self._session: Any = None
        self._model_path: Any = None
        self._providers: List[str] = []
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
        opts = self.session_options()
        threads, inter = opts.intra_op_num_threads, opts.inter_op_num_threads
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
        self._model_path, self._providers = model_path, wanted
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

    def session_options(self) -> Any:
        """The session options every session of this runtime uses (the timed one, the profiler's,
        and the plain loop of the agreement benchmark): threads set, never left to ORT's choice,
        so the record can say what ran."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(self.options.get("intra_op_num_threads") or usable_cpus())
        opts.inter_op_num_threads = int(self.options.get("inter_op_num_threads") or 1)
        opts.log_severity_level = 3
        return opts

    @property
    def inputs(self) -> List[InputSpec]:
        return self._inputs

    def layer_profile(self, batches: List[Dict[str, np.ndarray]], queries: int) -> List[LayerTime]:
        """ONNX Runtime's profiler (``SessionOptions.enable_profiling``) in a second session: the
        kernel time of each node, summed by operator type."""
        if self._session is None:
            raise InferenceError("layer_profile() called before load()")
        import onnxruntime as ort

        folder = tempfile.mkdtemp(prefix="edgeprof-ort-profile-")
        try:
            opts = self.session_options()
            opts.enable_profiling = True
            opts.profile_file_prefix = os.path.join(folder, "profile")
            try:
                session = ort.InferenceSession(str(self._model_path), sess_options=opts, providers=self._providers)
                for i in range(queries):
                    session.run(None, batches[i % len(batches)])
                trace = session.end_profiling()
                with open(trace, encoding="utf-8") as f:
                    events = json.load(f)
            except Exception as exc:
                raise InferenceError("ONNX Runtime's profiler failed: %s" % _first_line(exc)) from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        nodes = [
            (str(e["args"]["op_name"]), str(e["name"]), float(e["dur"]), str(e["args"].get("provider", "")))
            for e in events
            if e.get("cat") == "Node"
            and str(e.get("name", "")).endswith("_kernel_time")
            and "op_name" in e.get("args", {})
        ]
        return top_operators(nodes, queries)

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
