"""What an OpenVINO compiled model reports it really runs: properties and the precision of its kernels.

Nothing that decides a figure is left implicit: every setting in the record is read back from the
compiled model (:func:`read_settings`), because the plugin may not run what was asked for.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

#: devices that stand for others: their members are checked by OpenVINO itself
VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")
#: layer types of the CPU plugin's runtime graph whose precision says which kernels ran
COMPUTE_LAYERS = ("Convolution", "Deconvolution", "FullyConnected", "MatMul")
#: compiled-model properties recorded in :meth:`OVRuntime.settings`, by our name
READ_BACK = (
    ("execution_devices", "EXECUTION_DEVICES"),
    ("performance_hint", "PERFORMANCE_HINT"),
    ("num_streams", "NUM_STREAMS"),
    ("inference_num_threads", "INFERENCE_NUM_THREADS"),
    ("inference_precision", "INFERENCE_PRECISION_HINT"),
    ("optimal_number_of_infer_requests", "OPTIMAL_NUMBER_OF_INFER_REQUESTS"),
)


def base_device(device: str) -> str:
    """ "GPU.1" -> "GPU", "HETERO:GPU,CPU" -> "HETERO"."""
    return device.split(":", 1)[0].split(".", 1)[0].upper()


def read_settings(compiled: Any, api: Any, parsed: Dict[str, Any], config: Dict[str, str]) -> Dict[str, Any]:
    """The settings the compiled model really uses, read back from it, in JSON-ready values."""
    try:
        supported = set(compiled.get_property("SUPPORTED_PROPERTIES"))
    except Exception:
        supported = set()
    settings: Dict[str, Any] = {"api": api.label, "device": parsed["device"]}
    not_reported = []
    for ours, key in READ_BACK:
        value = None
        if key in supported:
            try:
                value = plain_value(compiled.get_property(key))
            except Exception:
                value = None
        if value is None:
            not_reported.append(key)
        settings[ours] = value
    if settings["execution_devices"] is None and base_device(parsed["device"]) not in VIRTUAL_DEVICES:
        # the 2022.3 CPU plugin does not report it; a concrete device runs on itself
        settings["execution_devices"] = [parsed["device"]]
        settings["execution_devices_source"] = "requested (the plugin does not report EXECUTION_DEVICES)"
    else:
        settings["execution_devices_source"] = "compiled model"
    settings["compute_layer_precisions"] = compute_layer_precisions(compiled)
    if settings["compute_layer_precisions"] is None:
        not_reported.append("runtime model")
    settings["num_requests"] = parsed["num_requests"]
    settings["requested"] = dict(config)
    settings["not_reported"] = not_reported
    return settings


def compute_layer_precisions(compiled: Any) -> Optional[Dict[str, int]]:
    """Precision -> count of the compute layers (convolutions, fully connected, matmuls) in the
    plugin's runtime graph: where INT8 kernels, or bf16 ones, really run. None when the plugin's
    runtime graph does not say (its rt_info lacks layerType/runtimePrecision)."""
    counts: Dict[str, int] = {}
    try:
        for op in compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if _rt_text(info["layerType"]) in COMPUTE_LAYERS:
                precision = _rt_text(info["runtimePrecision"]).lower()
                if precision.startswith("fp"):  # 2022.3 says FP32 where later releases say f32
                    precision = "f" + precision[2:]
                counts[precision] = counts.get(precision, 0) + 1
    except Exception:
        return None
    return counts or None


def _rt_text(value: Any) -> str:
    """An rt_info value as text: an OVAny in current releases, a str in 2022.3."""
    return str(value.astype(str)) if hasattr(value, "astype") else str(value)


def plain_value(value: Any) -> Any:
    """An OpenVINO property value as JSON: Type -> "f32", enums -> their name, lists element-wise."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if hasattr(value, "get_type_name"):  # openvino Type
        return str(value.get_type_name())
    name = getattr(value, "name", None)  # pybind11 enums (PerformanceMode in 2022.3)
    if isinstance(name, str):
        return name
    return str(value)
