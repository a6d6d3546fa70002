"""OpenVINO backend: an OpenVINO IR (preferred) or an ONNX model, on CPU, GPU, NPU or MYRIAD.

Two Python APIs are in use on devices. The current one (``openvino.Core``, 2023.1 and later) drives
CPU, GPU and the NPU of Core Ultra chips. The 2022.3 LTS API (``openvino.runtime.Core``) is the last
release with the MYRIAD plugin of the Movidius NCS2, and the one a Python 3.8 agent gets from the
registry (``openvino==2022.3.2``). :func:`openvino_api` finds whichever is installed, preferring
the current one, and every call here uses what both have in common: string property keys and values.

What the compiled model reports is read in :mod:`agent.runtimes.ov_settings`; asynchronous requests
in flight and performance counters are in :mod:`agent.runtimes.ov_measure`.

Nothing that decides a figure is left implicit. The thread count is set (the usable CPUs by default)
and every setting is read back from the compiled model, because the plugin may not run what was
asked for: on a Xeon with AMX the CPU plugin runs an "FP32" model in bf16 unless
``inference_precision`` is ``f32``, and on a CPU without bf16 a bf16 request silently runs f32.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.protocol import LayerTime
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime
from agent.runtimes.ort_runtime import usable_cpus
from agent.runtimes.ov_measure import BoundRequests, SyncInfer, async_window, perf_counter_profile
from agent.runtimes.ov_settings import VIRTUAL_DEVICES, base_device, read_settings

INSTALL_HINT = "pip install 'edgeprof[agent-openvino]' (openvino==2022.3.2 for MYRIAD on Python 3.8)"
OPTION_NAMES = (
    "device",
    "performance_hint",
    "num_streams",
    "inference_num_threads",
    "inference_precision",
    "num_requests",
)
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
INFERENCE_PRECISIONS = ("f32", "f16", "bf16")


class OpenVINOAPI:
    """The installed OpenVINO: its ``Core`` class, package version and which Python API it is."""

    def __init__(self, core_class: Any, version: str, legacy: bool) -> None:
        self.core_class = core_class
        self.version = version
        self.legacy = legacy

    @property
    def label(self) -> str:
        """The line the record carries: "openvino 2026.4.1 (ov.Core)" or "openvino.runtime 2022.3.2 (legacy)"."""
        if self.legacy:
            return "openvino.runtime %s (legacy)" % self.version
        return "openvino %s (ov.Core)" % self.version


def openvino_api() -> OpenVINOAPI:
    """The current API when ``openvino.Core`` exists, else the 2022.3 ``openvino.runtime`` one.

    ``openvino.runtime`` is not touched when the current API exists: 2025 releases warn on that
    import and 2026 removed it."""
    try:
        import openvino
    except ImportError as exc:
        raise RuntimeLoadError("openvino is not installed on this device: %s" % INSTALL_HINT) from exc
    core_class = getattr(openvino, "Core", None)
    if core_class is not None:
        return OpenVINOAPI(core_class, _package_version(getattr(openvino, "get_version", None)), legacy=False)
    try:
        from openvino.runtime import Core, get_version
    except ImportError as exc:
        raise RuntimeLoadError(
            "the installed openvino has neither openvino.Core nor openvino.runtime: %s" % INSTALL_HINT
        ) from exc
    return OpenVINOAPI(Core, _package_version(get_version), legacy=True)


class OVRuntime(Runtime):
    """Options (all optional): ``device`` ("CPU"), ``performance_hint`` ("LATENCY" or
    "THROUGHPUT"; default LATENCY), ``num_streams`` (int), ``inference_num_threads`` (int; default
    the usable CPUs on a CPU device), ``inference_precision`` ("f32" for strict FP32, "f16",
    "bf16"; unset: the plugin's default), ``num_requests`` (int, infer requests for asynchronous
    use; default 1, and the synchronous :meth:`infer` uses one)."""

    name = "openvino"
    short_name = "ov"
    artifact_kinds = ("openvino-ir", "onnx")
    precisions = ("fp32", "fp16", "int8-static")
    summary = "OpenVINO (IR or ONNX; CPU, GPU, NPU; MYRIAD with the 2022.3 LTS API)"
    # the throughput hint: more streams and requests, for batch throughput over single-query latency
    search_options = (("tput", {"performance_hint": "THROUGHPUT"}),)
    threads_option = "inference_num_threads"

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self.parsed = parse_options(self.options)
        self._core: Any = None
        self._model: Any = None
        self._config: Dict[str, str] = {}
        self._api: Any = None
        self._outputs: List[Any] = []
        self._share: Dict[str, bool] = {}
        self._compiled: Any = None
        self._request: Any = None
        self._bound: Any = None
        self._sync = SyncInfer()
        self._inputs: List[InputSpec] = []
        self._settings: Dict[str, Any] = {}

    @staticmethod
    def version() -> str:
        api = openvino_api()
        return "%s (%s API)" % (api.version, "openvino.runtime" if api.legacy else "ov.Core")

    def load(self, artifact: LocalArtifact) -> None:
        self.check_kind(artifact)
        api = openvino_api()
        device = self.parsed["device"]
        try:
            core = api.core_class()
            available = list(core.available_devices)
        except Exception as exc:  # a plugin whose driver is broken fails here
            raise RuntimeLoadError("%s cannot start: %s" % (api.label, vendor_reason(exc))) from exc
        check_device(api, device, available)
        model_path = artifact.path("model")
        paths = [model_path]
        if artifact.kind == "openvino-ir":
            paths.append(artifact.path("weights"))
        for path in paths:
            if not path.is_file():
                raise RuntimeLoadError("the %s artifact's file %s does not exist" % (artifact.kind, path))
        try:
            model = core.read_model(*[str(p) for p in paths])
        except Exception as exc:  # OpenVINO raises bare RuntimeErrors
            raise RuntimeLoadError("OpenVINO cannot read %s: %s" % (model_path.name, vendor_reason(exc))) from exc
        config = compile_config(self.parsed)
        try:
            self._compiled = core.compile_model(model, device, config)
            self._request = self._compiled.create_infer_request()
            self._bound = BoundRequests(self._compiled)
        except Exception as exc:
            raise RuntimeLoadError(
                "OpenVINO cannot compile %s for %s with %s: %s"
                % (model_path.name, device, _config_text(config), vendor_reason(exc))
            ) from exc
        self._core, self._model, self._config, self._api = core, model, config, api
        self._outputs = list(self._compiled.outputs)
        # the current API can read the caller's arrays in place instead of copying each query's
        # inputs (benchmark_app sets its tensors once); 2022.3 has no such flag
        self._share = {} if api.legacy else {"share_inputs": True}
        self._inputs = [_input_spec(port) for port in self._compiled.inputs]
        self._settings = read_settings(self._compiled, api, self.parsed, config)

    @property
    def inputs(self) -> List[InputSpec]:
        return self._inputs

    def infer(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        if self._request is None:
            raise InferenceError("infer() called before load()")
        bound = self._bound.request_for(feeds)
        request = self._request if bound is None else bound[0]
        try:
            # feeds seen before run on a request whose inputs are already set (ov_measure.BoundRequests),
            # synchronously in this thread (ov_measure.SyncInfer); others: start + wait, then copy each
            # output tensor: request.infer()'s work without its result dictionary, which costs a small
            # model a third of its throughput
            if bound is not None and bound[1]:
                return self._sync(request)
            request.start_async(feeds, **self._share)
            request.wait()
            return [np.array(request.get_output_tensor(i).data) for i in range(len(self._outputs))]
        except Exception as exc:
            raise InferenceError("OpenVINO failed to run the model: %s" % vendor_reason(exc)) from exc

    def settings(self) -> Dict[str, Any]:
        return dict(self._settings)

    def run_concurrent(self, batches: List[Dict[str, np.ndarray]], concurrency: int, plan: Any) -> Any:
        """``concurrency`` asynchronous infer requests in flight (``AsyncInferQueue``)."""
        if self._compiled is None:
            raise InferenceError("run_concurrent() called before load()")
        return async_window(
            self._compiled, _async_queue_class(self._api), batches, concurrency, plan, share_inputs=bool(self._share)
        )

    def layer_profile(self, batches: List[Dict[str, np.ndarray]], queries: int) -> List[LayerTime]:
        """OpenVINO's performance counters (``PERF_COUNT``) on a second compilation of the model."""
        if self._compiled is None:
            raise InferenceError("layer_profile() called before load()")
        return perf_counter_profile(self._core, self._model, self.parsed["device"], self._config, batches, queries)

    def close(self) -> None:
        self._request = self._bound = None
        self._compiled = None
        self._core = self._model = None


def _async_queue_class(api: OpenVINOAPI) -> Any:
    if api.legacy:
        from openvino.runtime import AsyncInferQueue
    else:
        from openvino import AsyncInferQueue
    return AsyncInferQueue


# --- options --------------------------------------------------------------------------------------


def parse_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Check the job's ``runtime_options``; any mistake is one RuntimeLoadError naming the fix."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise RuntimeLoadError(
            "openvino has no runtime option %s; its options are %s"
            % (", ".join(map(repr, unknown)), ", ".join(OPTION_NAMES))
        )
    device = options.get("device", "CPU")
    if not isinstance(device, str) or not device.strip():
        raise RuntimeLoadError(
            "openvino runtime option device must be a device name such as CPU, GPU, NPU or MYRIAD, not %r" % (device,)
        )
    hint = options.get("performance_hint", "LATENCY")
    if not isinstance(hint, str) or hint.upper() not in PERFORMANCE_HINTS:
        raise RuntimeLoadError(
            "openvino runtime option performance_hint must be %s, not %r" % (" or ".join(PERFORMANCE_HINTS), hint)
        )
    precision = options.get("inference_precision")
    if precision is not None and precision not in INFERENCE_PRECISIONS:
        raise RuntimeLoadError(
            "openvino runtime option inference_precision must be %s (f32 = strict FP32) or unset "
            "(the plugin's default), not %r" % (", ".join(INFERENCE_PRECISIONS), precision)
        )
    return {
        "device": device.strip().upper(),
        "performance_hint": hint.upper(),
        "num_streams": _positive_int(options, "num_streams"),
        "inference_num_threads": _positive_int(options, "inference_num_threads"),
        "inference_precision": precision,
        "num_requests": _positive_int(options, "num_requests") or 1,
    }


def _positive_int(options: Dict[str, Any], key: str) -> Optional[int]:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuntimeLoadError("openvino runtime option %s must be a whole number of at least 1, not %r" % (key, value))
    return value


def compile_config(parsed: Dict[str, Any]) -> Dict[str, str]:
    """The compile-time properties, string keys and values (both APIs accept them)."""
    config = {"PERFORMANCE_HINT": parsed["performance_hint"]}
    if parsed["num_streams"] is not None:
        config["NUM_STREAMS"] = str(parsed["num_streams"])
    threads = parsed["inference_num_threads"]
    if threads is None and base_device(parsed["device"]) == "CPU":
        threads = usable_cpus()  # set, never left to the plugin, so the record says what ran
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    if parsed["inference_precision"] is not None:
        config["INFERENCE_PRECISION_HINT"] = parsed["inference_precision"]
    return config


def check_device(api: OpenVINOAPI, device: str, available: List[str]) -> None:
    """A device this OpenVINO has no plugin or hardware for is refused before compiling."""
    base = base_device(device)
    if base in VIRTUAL_DEVICES:
        return
    if any(d == device or base_device(d) == base for d in available):
        return
    if base == "MYRIAD" and not api.legacy:
        raise RuntimeLoadError(
            "MYRIAD (Movidius NCS2) needs OpenVINO 2022.3 LTS or older, the last with its plugin; "
            "this device has %s: pip install 'openvino==2022.3.2'" % api.label
        )
    raise RuntimeLoadError(
        "%s on this device has no %s device (it has %s): install the device's plugin and driver, or set "
        "runtime_options.device to one of those" % (api.label, device, ", ".join(available) or "none")
    )


_OV_TYPE_DTYPES = {
    "f32": "float32",
    "f16": "float16",
    "f64": "float64",
    "i64": "int64",
    "i32": "int32",
    "i8": "int8",
    "u8": "uint8",
    "boolean": "bool",
}


def _input_spec(port: Any) -> InputSpec:
    try:
        name = port.get_any_name()
    except Exception:  # a port without tensor names
        name = port.get_node().get_friendly_name()
    element_type = port.get_element_type()
    try:
        dtype = np.dtype(element_type.to_dtype())
    except Exception:
        dtype = np.dtype(_OV_TYPE_DTYPES.get(element_type.get_type_name(), "float32"))
    return InputSpec(name, _shape(port.get_partial_shape()), dtype)


def _shape(partial_shape: Any) -> List[Any]:
    """Static dims as ints; a fully dynamic dim as None; a bounded one as its text ("1..8")."""
    if partial_shape.rank.is_dynamic:
        return []
    dims: List[Any] = []
    for dim in partial_shape:
        if dim.is_static:
            dims.append(dim.get_length())
        elif dim.get_max_length() < 0:
            dims.append(None)
        else:
            dims.append(str(dim))
    return dims


# --- messages ---------------------------------------------------------------------------------------


def vendor_reason(exc: BaseException) -> str:
    """The sentence of an OpenVINO error, without its "Exception from src/...:" and "Check ... failed
    at ..." lines."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [
        line
        for line in lines
        if line and not line.startswith(("Exception from ", "Check '")) and line != "Loading input model"
    ]
    text = " ".join(kept) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _config_text(config: Dict[str, str]) -> str:
    return ", ".join("%s=%s" % item for item in sorted(config.items()))


def _package_version(get_version: Any) -> str:
    """The package's version ("2026.4.1"), from its metadata, else from the build string."""
    try:
        from importlib.metadata import version

        return version("openvino")
    except Exception:
        pass
    build = str(get_version()) if get_version is not None else "unknown"
    return build.split("-", 1)[0]
