"""The TensorRT Python API lines the agent speaks: 8.5/8.6 (JetPack 5, JetPack 6.0) and 10.x.

Everything that differs between the lines is here, each call as that line's documentation gives it:

=========================  ===========================================  ===========================
                           8.5 / 8.6                                    10.x
=========================  ===========================================  ===========================
network                    ``create_network(1 << EXPLICIT_BATCH)``      ``create_network(0)``
workspace                  ``set_memory_pool_limit(WORKSPACE, bytes)``  the same (``max_workspace_size`` is gone)
I/O tensors                ``num_bindings``, ``get_binding_*``          ``num_io_tensors``, ``get_tensor_*``
input shapes               ``context.set_binding_shape(i, shape)``      ``context.set_input_shape(name, shape)``
run                        ``execute_async_v2(bindings, stream)``       ``set_tensor_address`` + ``execute_async_v3``
=========================  ===========================================  ===========================

Both build with ``build_serialized_network`` and read layer placement from ``IEngineInspector``.
TensorRT 11 removed the precision flags this recipe sets, so it is refused with that reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import InferenceError, RuntimeLoadError
from agent.runtimes.trt_build_recipe import TRTBuildRecipe

INSTALL_HINT = "TensorRT comes with JetPack on a Jetson; elsewhere: pip install 'edgeprof[agent-trt]'"
SUPPORTED = "8.5, 8.6 and 10.x"
#: builder messages kept for the record (the first ones; a DLA build can log hundreds)
MAX_LOG_LINES = 20


class TRTLine:
    """The installed TensorRT: its module, version, and which API line it speaks."""

    def __init__(self, trt: Any) -> None:
        self.trt = trt
        self.version = str(trt.__version__)
        try:
            self.major, self.minor = (int(p) for p in self.version.split(".")[:2])
        except ValueError:
            raise RuntimeLoadError("cannot read the TensorRT version %r" % self.version) from None
        if (self.major, self.minor) < (8, 5) or self.major >= 11:
            raise RuntimeLoadError(
                "TensorRT %s is not supported: the agent speaks the %s Python APIs%s"
                % (
                    self.version,
                    SUPPORTED,
                    " (TensorRT 11 removed the FP16/INT8 builder flags the recipes set)" if self.major >= 11 else "",
                )
            )
        self.named_tensors = self.major >= 10

    @property
    def label(self) -> str:
        run = "set_tensor_address + execute_async_v3" if self.named_tensors else "bindings + execute_async_v2"
        return "tensorrt %s (%s)" % (self.version, run)


def import_tensorrt() -> TRTLine:
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeLoadError("tensorrt is not installed on this device: %s" % INSTALL_HINT) from exc
    return TRTLine(tensorrt)


def make_logger(trt: Any) -> Any:
    """A ``trt.ILogger`` that keeps warnings and errors (the builder's reasons) for the record."""

    class _Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.lines: List[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if int(severity) <= int(trt.ILogger.Severity.WARNING) and len(self.lines) < MAX_LOG_LINES:
                self.lines.append(str(msg).strip())

    return _Logger()


class BuildOutcome:
    """A serialized engine and what the build said about it."""

    def __init__(self, engine: bytes, build_s: float, dla: Optional[Dict[str, Any]], log: List[str]) -> None:
        self.engine = engine
        self.build_s = build_s
        self.dla = dla
        self.log = log


def build_engine(line: TRTLine, recipe: TRTBuildRecipe, onnx_path: Path, logger: Any) -> BuildOutcome:
    """Parse ``onnx_path`` and build it as ``recipe`` says; RuntimeLoadError with TensorRT's reason."""
    trt = line.trt
    builder = trt.Builder(logger)
    flags = 0 if line.named_tensors else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or logger.lines
        raise RuntimeLoadError("TensorRT's ONNX parser refused %s: %s" % (onnx_path.name, "; ".join(errors[:3])))
    config = builder.create_builder_config()
    for flag in recipe.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag.upper()))
    if not recipe.tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if recipe.sparse_weights:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    if recipe.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, recipe.workspace_mib << 20)
    if recipe.builder_optimization_level is not None:
        config.builder_optimization_level = recipe.builder_optimization_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer placement for the inspector
    if recipe.profile:
        profile = builder.create_optimization_profile()
        for name, shapes in recipe.profile.items():
            profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
        config.add_optimization_profile(profile)
    dla = _configure_dla(trt, builder, network, config, recipe) if recipe.dla_core is not None else None
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - started
    if serialized is None:
        raise RuntimeLoadError(
            "TensorRT could not build the engine: %s" % ("; ".join(logger.lines[-3:]) or "no reason logged")
        )
    return BuildOutcome(bytes(memoryview(serialized)), build_s, dla, list(logger.lines))


def _configure_dla(trt: Any, builder: Any, network: Any, config: Any, recipe: TRTBuildRecipe) -> Dict[str, Any]:
    """Put the network on DLA core ``recipe.dla_core``; say which layers stay on the GPU, asking
    ``IBuilderConfig.can_run_on_DLA`` for each layer before the build."""
    cores = int(builder.num_DLA_cores)
    if recipe.dla_core is None or recipe.dla_core >= cores:
        raise RuntimeLoadError(
            "the recipe asks for DLA core %s but this device has %d DLA core(s)%s"
            % (recipe.dla_core, cores, ": build without --trt-dla-core" if cores == 0 else "")
        )
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = recipe.dla_core
    if recipe.gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    on_gpu = [layer.name for layer in layers if not config.can_run_on_DLA(layer)]
    if on_gpu and not recipe.gpu_fallback:
        raise RuntimeLoadError(
            "%d layer(s) cannot run on the DLA (%s) and GPU fallback is off" % (len(on_gpu), ", ".join(on_gpu[:5]))
        )
    return {
        "core": recipe.dla_core,
        "cores_on_device": cores,
        "gpu_fallback": recipe.gpu_fallback,
        "layers": len(layers),
        "layers_on_gpu": len(on_gpu),
        "gpu_fallback_layers": on_gpu[:50],
        "source": "IBuilderConfig.can_run_on_DLA for each network layer, before the build",
    }


def engine_layers(line: TRTLine, engine: Any) -> Optional[Dict[str, int]]:
    """Layer type -> count in the built engine, from ``IEngineInspector`` (None where it says nothing)."""
    try:
        info = json.loads(engine.create_engine_inspector().get_engine_information(line.trt.LayerInformationFormat.JSON))
    except Exception:
        return None
    counts: Dict[str, int] = {}
    for layer in info.get("Layers", []):
        kind = str(layer.get("LayerType", "unknown")) if isinstance(layer, dict) else "unknown"
        counts[kind] = counts.get(kind, 0) + 1
    return counts or None


class TensorIO:
    """One engine input or output: name, whether it is an input, numpy dtype, shape (-1: dynamic)."""

    def __init__(self, index: int, name: str, is_input: bool, dtype: np.dtype, shape: List[int]) -> None:
        self.index = index
        self.name = name
        self.is_input = is_input
        self.dtype = np.dtype(dtype)
        self.shape = shape


def io_tensors(line: TRTLine, engine: Any) -> List[TensorIO]:
    trt = line.trt
    found = []
    if line.named_tensors:
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            dtype = trt.nptype(engine.get_tensor_dtype(name))
            found.append(TensorIO(i, name, is_input, dtype, [int(d) for d in engine.get_tensor_shape(name)]))
    else:
        for i in range(engine.num_bindings):
            dtype = trt.nptype(engine.get_binding_dtype(i))
            shape = [int(d) for d in engine.get_binding_shape(i)]
            found.append(TensorIO(i, engine.get_binding_name(i), bool(engine.binding_is_input(i)), dtype, shape))
    return found


class Executor:
    """Shapes, addresses and the enqueue of one execution context, in its API line's calls."""

    def __init__(self, line: TRTLine, context: Any, tensors: List[TensorIO]) -> None:
        self.line = line
        self.context = context
        self.tensors = tensors
        self._bindings = [0] * len(tensors)

    def set_input_shapes(self, shapes: Dict[str, Tuple[int, ...]]) -> Dict[str, Tuple[int, ...]]:
        """Set every input's shape; the output shapes that follow from them."""
        for t in self.tensors:
            if not t.is_input:
                continue
            shape = shapes[t.name]
            ok = (
                self.context.set_input_shape(t.name, shape)
                if self.line.named_tensors
                else self.context.set_binding_shape(t.index, shape)
            )
            if ok is False:
                raise InferenceError(
                    "TensorRT failed to run the model: it refused shape %s for input %r" % (list(shape), t.name)
                )
        out = {}
        for t in self.tensors:
            if not t.is_input:
                dims = (
                    self.context.get_tensor_shape(t.name)
                    if self.line.named_tensors
                    else self.context.get_binding_shape(t.index)
                )
                out[t.name] = tuple(int(d) for d in dims)
        return out

    def bind(self, addresses: Dict[str, int]) -> None:
        for t in self.tensors:
            if self.line.named_tensors:
                self.context.set_tensor_address(t.name, addresses[t.name])
            else:
                self._bindings[t.index] = addresses[t.name]

    def enqueue(self, stream_handle: int) -> None:
        if self.line.named_tensors:
            ok = self.context.execute_async_v3(stream_handle)
        else:
            ok = self.context.execute_async_v2(bindings=self._bindings, stream_handle=stream_handle)
        if ok is False:
            raise InferenceError("TensorRT failed to run the model: the enqueue returned false")
