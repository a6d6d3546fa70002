"""A fake ``tensorrt`` module for one API line, 8.6 or 10.x, with the production runtime behind it.

It mimics the documented Python API of each line, and only that: 10.x has no binding API
(``num_bindings``, ``get_binding_*``, ``execute_async_v2`` and ``max_workspace_size`` are gone, as in
the real 10.0), 8.6 has both the binding API and the name-based one that 8.5 added. Behaviour that
the agent relies on is reproduced the way TensorRT does it:

- 8.x needs an explicit-batch network for ONNX (the parser refuses otherwise); 10.x takes flags 0;
- a network with dynamic inputs and no optimisation profile does not build (``None``, error logged);
- ``set_input_shape`` / ``set_binding_shape`` return False outside the profile;
- an engine built by another release does not deserialize (``None``, error logged);
- DLA: ``num_DLA_cores`` is the board's count, ``can_run_on_DLA`` is False for the op types the
  board's DLA lacks, and without ``GPU_FALLBACK`` such a layer fails the build.

The "engine" runs the ONNX model with ONNX Runtime on the CPU, reading its inputs from and writing
its outputs to the fake GPU's memory (:mod:`tests.agent.runtimes.fake_gpu`).
"""

from __future__ import annotations

import base64
import enum
import json
import types
from pathlib import Path
from typing import Any

import numpy as np

from . import fake_gpu


class _Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = _Severity
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = (_Severity(i) for i in range(5))

    def __init__(self) -> None:
        pass

    def log(self, severity: _Severity, msg: str) -> None:
        raise NotImplementedError


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 5
    TF32 = 7
    SPARSE_WEIGHTS = 8


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1


class DeviceType(enum.IntEnum):
    GPU = 0
    DLA = 1


class ProfilingVerbosity(enum.IntEnum):
    LAYER_NAMES_ONLY = 0
    NONE = 1
    DETAILED = 2


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0


class LayerInformationFormat(enum.IntEnum):
    ONELINE = 0
    JSON = 1


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    INT64 = 9


_NP = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8, DataType.INT32: np.int32,
       DataType.BOOL: np.bool_, DataType.INT64: np.int64}  # fmt: skip
_FROM_ONNX = {
    1: DataType.FLOAT,
    10: DataType.HALF,
    3: DataType.INT8,
    6: DataType.INT32,
    9: DataType.BOOL,
    7: DataType.INT64,
}


def nptype(dtype: DataType) -> type:
    return _NP[dtype]


class _Tensor:
    def __init__(self, name: str, shape: tuple[int, ...], dtype: DataType) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype


class _Layer:
    def __init__(self, name: str, op_type: str) -> None:
        self.name, self.type = name, op_type


class _Network:
    def __init__(self, explicit_batch: bool) -> None:
        self.explicit_batch = explicit_batch
        self.onnx: bytes = b""
        self.inputs: list[_Tensor] = []
        self.outputs: list[_Tensor] = []
        self.layers: list[_Layer] = []

    num_layers = property(lambda self: len(self.layers))
    num_inputs = property(lambda self: len(self.inputs))

    def get_layer(self, i: int) -> _Layer:
        return self.layers[i]

    def get_input(self, i: int) -> _Tensor:
        return self.inputs[i]


class _ParserError:
    def __init__(self, text: str) -> None:
        self._text = text

    def desc(self) -> str:
        return self._text

    def __str__(self) -> str:
        return "In node -1 (parseGraph): INVALID_GRAPH: " + self._text


class OnnxParser:
    def __init__(self, network: _Network, logger: ILogger) -> None:
        self.network, self.logger, self.errors = network, logger, []

    num_errors = property(lambda self: len(self.errors))

    def get_error(self, i: int) -> _ParserError:
        return self.errors[i]

    def parse_from_file(self, path: str) -> bool:
        import onnx

        if not self.network.explicit_batch:
            self.errors.append(_ParserError("the network must be created with the EXPLICIT_BATCH flag"))
            return False
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model)
        except Exception as exc:
            self.errors.append(_ParserError(f"cannot read {Path(path).name}: {exc}"))
            return False
        graph = model.graph
        initializers = {i.name for i in graph.initializer}

        def tensor(value: Any) -> _Tensor:
            t = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
            return _Tensor(value.name, dims, _FROM_ONNX[t.elem_type])

        self.network.onnx = Path(path).read_bytes()
        self.network.inputs = [tensor(v) for v in graph.input if v.name not in initializers]
        self.network.outputs = [tensor(v) for v in graph.output]
        self.network.layers = [_Layer(n.name or f"{n.op_type}_{i}", n.op_type) for i, n in enumerate(graph.node)]
        return True


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, list[list[int]]] = {}

    def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002 - TensorRT's names
        self.shapes[name] = [list(min), list(opt), list(max)]


class _Config:
    def __init__(self, tensorrt: Any) -> None:
        self._trt = tensorrt
        self.flags = {BuilderFlag.TF32}  # TF32 is on by default, as in TensorRT
        self.pools: dict[MemoryPoolType, int] = {}
        self.profiles: list[_Profile] = []
        self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
        self.default_device_type = DeviceType.GPU
        self.DLA_core = -1
        self.builder_optimization_level = 3

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags.add(BuilderFlag(flag))

    def clear_flag(self, flag: BuilderFlag) -> None:
        self.flags.discard(BuilderFlag(flag))

    def get_flag(self, flag: BuilderFlag) -> bool:
        return BuilderFlag(flag) in self.flags

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        self.pools[MemoryPoolType(pool)] = int(size)

    def add_optimization_profile(self, profile: _Profile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def can_run_on_DLA(self, layer: _Layer) -> bool:  # noqa: N802 - TensorRT's name
        return self._trt._dla_cores > 0 and layer.type not in self._trt._dla_unsupported


class _HostMemory(bytes):
    """IHostMemory: the serialized plan, readable through the buffer protocol."""

    @property
    def nbytes(self) -> int:
        return len(self)


class Builder:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger
        self._trt = _module_of(self)

    num_DLA_cores = property(lambda self: self._trt._dla_cores)

    def create_network(self, flags: int = 0) -> _Network:
        explicit = self._trt._line >= 10 or bool(flags & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)))
        return _Network(explicit)

    def create_builder_config(self) -> _Config:
        return _Config(self._trt)

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> _HostMemory | None:
        error = self._problem(network, config)
        if error:
            self.logger.log(ILogger.ERROR, error)
            return None
        fake_gpu.GPU.calls.append("build")
        plan = {
            "fake_tensorrt": self._trt.__version__,
            "onnx": base64.b64encode(network.onnx).decode(),
            "inputs": [[t.name, list(t.shape), int(t.dtype)] for t in network.inputs],
            "outputs": [[t.name, list(t.shape), int(t.dtype)] for t in network.outputs],
            "layers": [[layer.name, layer.type] for layer in network.layers],
            "profile": config.profiles[0].shapes if config.profiles else {},
            "flags": sorted(f.name for f in config.flags),
            "dla_core": config.DLA_core if config.default_device_type == DeviceType.DLA else None,
        }
        return _HostMemory(json.dumps(plan).encode())

    def _problem(self, network: _Network, config: _Config) -> str:
        profile = config.profiles[0].shapes if config.profiles else {}
        for t in network.inputs:
            if any(d < 0 for d in t.shape) and t.name not in profile:
                return "Network has dynamic or shape inputs, but no optimization profile has been defined."
            if t.name in profile and any(len(s) != len(t.shape) for s in profile[t.name]):
                return f"Profile for {t.name} has the wrong number of dimensions"
        if config.default_device_type == DeviceType.DLA:
            if not 0 <= config.DLA_core < self._trt._dla_cores:
                return f"Cannot create DLA engine, {config.DLA_core} not available"
            stuck = [layer.name for layer in network.layers if not config.can_run_on_DLA(layer)]
            if stuck and BuilderFlag.GPU_FALLBACK not in config.flags:
                return f"{stuck[0]} cannot run on DLA and GPU fallback is not enabled"
            for name in stuck:
                self.logger.log(ILogger.WARNING, f"Layer {name} is not supported on DLA, falling back to GPU.")
        return ""


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger
        self._trt = _module_of(self)

    def deserialize_cuda_engine(self, data: bytes) -> _Engine | None:
        try:
            plan = json.loads(bytes(data))
        except ValueError:
            self.logger.log(ILogger.ERROR, "1: [stdArchiveReader.cpp] Magic tag does not match")
            return None
        if plan.get("fake_tensorrt") != self._trt.__version__:
            self.logger.log(
                ILogger.ERROR,
                "The engine plan file is not compatible with this version of TensorRT, expecting library version "
                f"{self._trt.__version__} got {plan.get('fake_tensorrt')}, please rebuild.",
            )
            return None
        return _Engine(self._trt, plan)


class _Engine:
    def __init__(self, tensorrt: Any, plan: dict[str, Any]) -> None:
        self._trt, self.plan = tensorrt, plan
        self.io = [(n, tuple(s), DataType(d), True) for n, s, d in plan["inputs"]]
        self.io += [(n, tuple(s), DataType(d), False) for n, s, d in plan["outputs"]]
        self.num_layers = len(plan["layers"])
        if tensorrt._line < 10:  # the binding API, removed in 10.0
            self.num_bindings = len(self.io)
            self.get_binding_name = lambda i: self.io[i][0]
            self.binding_is_input = lambda i: self.io[i][3]
            self.get_binding_shape = lambda i: self.io[i][1]
            self.get_binding_dtype = lambda i: self.io[i][2]

    num_io_tensors = property(lambda self: len(self.io))

    def _find(self, name: str) -> tuple[str, tuple[int, ...], DataType, bool]:
        return next(t for t in self.io if t[0] == name)

    def get_tensor_name(self, i: int) -> str:
        return self.io[i][0]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode.INPUT if self._find(name)[3] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._find(name)[1]

    def get_tensor_dtype(self, name: str) -> DataType:
        return self._find(name)[2]

    def create_execution_context(self) -> _Context:
        return _Context(self)

    def create_engine_inspector(self) -> Any:
        layers = [{"Name": n, "LayerType": t} for n, t in self.plan["layers"]]
        inspector = types.SimpleNamespace()
        inspector.get_engine_information = lambda fmt: json.dumps(
            {"Layers": layers, "Bindings": [t[0] for t in self.io]}
        )
        return inspector


class _Context:
    def __init__(self, engine: _Engine) -> None:
        import onnxruntime as ort

        self.engine = engine
        self.session = ort.InferenceSession(base64.b64decode(engine.plan["onnx"]), providers=["CPUExecutionProvider"])
        self.shapes = {name: shape for name, shape, _, is_input in engine.io if is_input}
        self.addresses: dict[str, int] = {}
        if engine._trt._line < 10:
            self.set_binding_shape = lambda i, shape: self.set_input_shape(engine.io[i][0], shape)
            self.get_binding_shape = lambda i: self.get_tensor_shape(engine.io[i][0])
            self.execute_async_v2 = self._execute_v2

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(int(d) for d in shape)
        profile = self.engine.plan["profile"].get(name)
        static = self.engine._find(name)[1]
        low, high = (profile[0], profile[2]) if profile else (static, static)
        if len(shape) != len(static) or not all(a <= d <= b for a, d, b in zip(low, shape, high, strict=True)):
            return False
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self.shapes:
            return self.shapes[name]
        feeds = {n: np.zeros(self.shapes[n], _NP[d]) for n, _, d, is_in in self.engine.io if is_in}
        names = [t[0] for t in self.engine.io if not t[3]]
        return tuple(self.session.run([name], feeds)[0].shape) if name in names else ()

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = int(ptr)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        fake_gpu.GPU.calls.append("execute_async_v3")
        return self._run(self.addresses, stream_handle)

    def _execute_v2(self, bindings: list[int], stream_handle: int) -> bool:
        fake_gpu.GPU.calls.append("execute_async_v2")
        return self._run({t[0]: int(p) for t, p in zip(self.engine.io, bindings, strict=True)}, stream_handle)

    def _run(self, addresses: dict[str, int], stream: int) -> bool:
        gpu = fake_gpu.GPU
        if stream not in gpu.streams:
            raise RuntimeError(f"CUDA error: invalid resource handle (stream {stream:#x})")
        feeds = {}
        for name, _, dtype, is_input in self.engine.io:
            if is_input:
                shape, np_type = self.shapes[name], np.dtype(_NP[dtype])
                raw = gpu.read(addresses[name], int(np.prod(shape)) * np_type.itemsize)
                feeds[name] = np.frombuffer(raw, np_type).reshape(shape)
        outputs = self.session.run(None, feeds)
        for (name, _, dtype, _is_input), value in zip([t for t in self.engine.io if not t[3]], outputs, strict=True):
            gpu.write(addresses[name], np.ascontiguousarray(value, _NP[dtype]).tobytes())
        return True


def _module_of(obj: Any) -> Any:
    return _MODULES[type(obj).__module__ + ":" + type(obj).__qualname__]


_MODULES: dict[str, Any] = {}


def make_tensorrt(version: str, dla_cores: int = 0, dla_unsupported: frozenset[str] = frozenset()) -> Any:
    """A ``tensorrt`` module of ``version`` ("8.6.1", "10.3.0") on a board with ``dla_cores`` DLAs."""
    line = int(version.split(".")[0])
    m = types.ModuleType("tensorrt")
    m.__version__ = version
    m._line, m._dla_cores, m._dla_unsupported = line, dla_cores, dla_unsupported
    for obj in (ILogger, BuilderFlag, MemoryPoolType, DeviceType, ProfilingVerbosity, TensorIOMode, DataType,
                NetworkDefinitionCreationFlag, LayerInformationFormat, OnnxParser, nptype):  # fmt: skip
        setattr(m, obj.__name__, obj)
    m.Logger = type("Logger", (ILogger,), {"log": lambda self, severity, msg: None})
    # Builder and Runtime find their module (version, DLA) through a subclass per fake module
    for base in (Builder, Runtime):
        cls = type(base.__name__, (base,), {"__module__": f"fake_tensorrt_{id(m)}"})
        _MODULES[cls.__module__ + ":" + cls.__qualname__] = m
        setattr(m, base.__name__, cls)
    return m
