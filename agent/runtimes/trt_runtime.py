"""TensorRT backend: builds the engine on the device from a ``tensorrt-recipe`` artifact, then times it.

Load: read the recipe (:mod:`agent.runtimes.trt_build_recipe`), open a CUDA backend
(:mod:`agent.runtimes.cuda_mem`), look the engine up in the cache by (recipe, GPU name and compute
capability, TensorRT version) (:mod:`agent.runtimes.engine_cache`), build it where it is missing
(:mod:`agent.runtimes.trt_api`: the 8.5/8.6 and 10.x API lines), and allocate device and page-locked
host buffers once, at the profile's largest shapes.

One query (:meth:`TRTRuntime.infer`) is what a serving loop does, and what trtexec times by default:
copy the inputs to the device, enqueue (or replay a CUDA graph, as ``trtexec --useCudaGraph`` does),
copy the outputs back and synchronise the stream. The harness's wall-clock latency covers all of it;
CUDA events around the enqueue give the GPU compute time too (``gpu_compute_ms`` in the settings),
the figure trtexec prints as "GPU Compute Time".
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import AgentError, InferenceError, RuntimeLoadError
from agent.runtimes.base import InputSpec, LocalArtifact, Runtime
from agent.runtimes.cuda_mem import AUTO_ORDER, CUDA_BACKENDS, CudaBackend, open_backend
from agent.runtimes.engine_cache import EngineCache, cache_key, default_dir
from agent.runtimes.trt_api import (
    Executor,
    TensorIO,
    TRTLine,
    build_engine,
    engine_layers,
    import_tensorrt,
    io_tensors,
    make_logger,
)
from agent.runtimes.trt_build_recipe import TRTBuildRecipe, render_trtexec

OPTION_NAMES = ("cuda_backend", "device", "use_cuda_graph", "engine_cache_dir")
#: GPU times kept per batch size for the settings' percentiles (a long window keeps the first ones)
MAX_TIMINGS = 100000


class TRTRuntime(Runtime):
    """Options (all optional): ``cuda_backend`` ("auto", or one of cuda-python, pycuda, cupy, torch),
    ``device`` (GPU index, 0), ``use_cuda_graph`` (bool, False: replay the enqueue as a CUDA graph),
    ``engine_cache_dir`` (where built engines are kept; the worker sets the agent's state folder)."""

    name = "tensorrt"
    short_name = "trt"
    artifact_kinds = ("tensorrt-recipe",)
    precisions = ("fp32", "fp16", "int8-static", "best")
    summary = "TensorRT (engine built on the device from a recipe; 8.5/8.6 and 10.x APIs)"

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self.parsed = parse_options(self.options)
        self.cache_dir = Path(self.parsed["engine_cache_dir"] or default_dir())
        self._executor: Optional[Executor] = None
        self._backend: Optional[CudaBackend] = None
        self._engine: Any = None
        self._inputs: List[InputSpec] = []
        self._outputs: List[TensorIO] = []
        self._device: Dict[str, int] = {}
        self._host: Dict[str, np.ndarray] = {}
        self._shapes: Dict[str, Tuple[int, ...]] = {}
        self._out_shapes: Dict[str, Tuple[int, ...]] = {}
        self._graphs: Dict[Any, Any] = {}
        self._events: Tuple[Any, Any] = (None, None)
        self._gpu_ms: Dict[int, List[float]] = {}
        self._settings: Dict[str, Any] = {}
        self._recipe: Optional[TRTBuildRecipe] = None

    def set_cache_dir(self, path: Path) -> None:
        """Where engines are cached, unless the job's options name a folder (the agent's state folder)."""
        if not self.parsed["engine_cache_dir"]:
            self.cache_dir = Path(path)

    @staticmethod
    def version() -> str:
        return import_tensorrt().version

    def load(self, artifact: LocalArtifact) -> None:
        self.check_kind(artifact)
        line = import_tensorrt()
        recipe = TRTBuildRecipe.from_settings(artifact.settings)
        model = artifact.path("model")
        if not model.is_file():
            raise RuntimeLoadError("the tensorrt-recipe artifact's ONNX file %s does not exist" % model)
        backend = open_backend(self.parsed["cuda_backend"], self.parsed["device"])
        try:
            self._load(line, recipe, model, backend)
        except AgentError:
            self.close_backend(backend)
            raise
        except Exception as exc:  # TensorRT and CUDA raise RuntimeError/TypeError with their reason
            self.close_backend(backend)
            raise RuntimeLoadError("TensorRT cannot load %s: %s" % (model.name, _first_line(exc))) from exc

    def _load(self, line: TRTLine, recipe: TRTBuildRecipe, model: Path, backend: CudaBackend) -> None:
        trt = line.trt
        gpu, cc = backend.device_name(), backend.compute_capability()
        key = cache_key(recipe.digest(_sha256(model)), gpu, cc, line.version)
        cache = EngineCache(self.cache_dir)
        logger = make_logger(trt)
        deserializer = trt.Runtime(logger)
        engine, from_cache, notes = None, False, []
        hit = cache.get(key)
        if hit is not None:
            engine = deserializer.deserialize_cuda_engine(hit[0])
            meta = hit[1]
            from_cache = engine is not None
            if engine is None:
                cache.drop(key)
                notes.append("the cached engine did not deserialize; it was built again")
        if engine is None:
            outcome = build_engine(line, recipe, model, logger)
            meta = cache.put(
                key,
                outcome.engine,
                {
                    "build_s": round(outcome.build_s, 3),
                    "dla": outcome.dla,
                    "build_log": outcome.log,
                    "gpu": gpu,
                    "compute_capability": "%d.%d" % cc,
                    "tensorrt": line.version,
                },
            )
            engine = deserializer.deserialize_cuda_engine(outcome.engine)
            if engine is None:
                raise RuntimeLoadError(
                    "TensorRT built an engine it cannot deserialize: %s" % "; ".join(logger.lines[-3:])
                )
        tensors = io_tensors(line, engine)
        executor = Executor(line, engine.create_execution_context(), tensors)
        self._engine, self._backend, self._recipe = engine, backend, recipe
        self._inputs = [InputSpec(t.name, _input_shape(t, recipe), t.dtype) for t in tensors if t.is_input]
        self._outputs = [t for t in tensors if not t.is_input]
        self._allocate(executor, tensors, recipe)
        self._executor = executor
        self._events = (backend.new_event(), backend.new_event())
        self._settings = {
            "api": line.label,
            "cuda_backend": backend.name,
            "gpu": gpu,
            "compute_capability": "%d.%d" % cc,
            "precision": recipe.precision,
            "builder_flags": list(recipe.flags) + ([] if recipe.tf32 else ["no-tf32"]),
            "sparse_weights": recipe.sparse_weights,
            "profile": recipe.to_settings()["profile"],
            "workspace_mib": recipe.workspace_mib,
            "engine": {
                "cache_key": key,
                "from_cache": from_cache,
                "build_s": meta.get("build_s"),
                "size_bytes": meta.get("size_bytes"),
                "layer_types": engine_layers(line, engine),
            },
            "dla": meta.get("dla"),
            "build_log": list(meta.get("build_log") or [])[:5],
            "cuda_graph": self.parsed["use_cuda_graph"],
            "host_memory": "page-locked",
            "timing": "latency per query covers H2D copy, enqueue, D2H copy and stream sync; gpu_compute_ms "
            "is CUDA events around the enqueue",
            "notes": notes,
        }

    def _allocate(self, executor: Executor, tensors: List[TensorIO], recipe: TRTBuildRecipe) -> None:
        """Device and page-locked host buffers for the profile's largest shapes, bound once."""
        largest = {t.name: _largest_shape(t, recipe) for t in tensors if t.is_input}
        out_shapes = executor.set_input_shapes(largest)
        assert self._backend is not None
        for t in tensors:
            shape = largest[t.name] if t.is_input else out_shapes[t.name]
            nbytes = int(np.prod(shape, dtype=np.int64)) * t.dtype.itemsize
            self._device[t.name] = self._backend.alloc(nbytes)
            self._host[t.name] = self._backend.pinned(nbytes)
        executor.bind(self._device)

    @property
    def inputs(self) -> List[InputSpec]:
        return self._inputs

    def infer(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        executor, backend = self._executor, self._backend
        if executor is None or backend is None:
            raise InferenceError("infer() called before load()")
        arrays = {spec.name: np.ascontiguousarray(_feed(feeds, spec), dtype=spec.dtype) for spec in self._inputs}
        shapes = {name: tuple(a.shape) for name, a in arrays.items()}
        self._check_shapes(shapes)
        try:
            if shapes != self._shapes:
                self._out_shapes = executor.set_input_shapes(shapes)
                self._shapes = shapes
            for name, array in arrays.items():
                host = self._host[name][: array.nbytes]
                host[:] = array.reshape(-1).view(np.uint8)
                backend.htod(self._device[name], host)
            start, end = self._events
            backend.record(start)
            graph = self._graph_for(shapes) if self.parsed["use_cuda_graph"] else None
            if graph is not None:
                backend.launch(graph)
            else:
                executor.enqueue(backend.stream_handle)
            backend.record(end)
            outputs = []
            for t in self._outputs:
                shape = self._out_shapes[t.name]
                host = self._host[t.name][: int(np.prod(shape, dtype=np.int64)) * t.dtype.itemsize]
                backend.dtoh(host, self._device[t.name])
                outputs.append((host, t.dtype, shape))
            backend.synchronize()
            self._note_time(shapes, backend.elapsed_ms(start, end))
            return [host.view(dtype).reshape(shape).copy() for host, dtype, shape in outputs]
        except AgentError:
            raise
        except Exception as exc:
            raise InferenceError("TensorRT failed to run the model: %s" % _first_line(exc)) from exc

    def _check_shapes(self, shapes: Dict[str, Tuple[int, ...]]) -> None:
        """A shape the engine cannot take is refused with the engine's shape and profile, not TensorRT's log."""
        assert self._recipe is not None
        for spec in self._inputs:
            shape = shapes[spec.name]
            fixed = [d for d in spec.shape[1:]]
            profile = self._recipe.profile.get(spec.name)
            low, high = (profile.min[0], profile.max[0]) if profile else (spec.shape[0], spec.shape[0])
            if len(shape) != len(spec.shape) or list(shape[1:]) != fixed or not low <= shape[0] <= high:
                raise InferenceError(
                    "TensorRT failed to run the model: input %r has shape %s; the engine takes %s with a batch of "
                    "%s..%s (its optimisation profile: rebuild with --batch covering the sizes to measure)"
                    % (spec.name, list(shape), ["?"] + fixed, low, high)
                )

    def _graph_for(self, shapes: Dict[str, Tuple[int, ...]]) -> Any:
        """The CUDA graph of one enqueue at these shapes, captured after one plain enqueue (TensorRT
        finishes deferred work on the first enqueue after a shape change, which must not be captured)."""
        executor, backend = self._executor, self._backend
        assert executor is not None and backend is not None
        key = tuple(sorted(shapes.items()))
        if key not in self._graphs:
            executor.enqueue(backend.stream_handle)
            backend.synchronize()
            self._graphs[key] = backend.capture(lambda: executor.enqueue(backend.stream_handle))
        return self._graphs[key]

    def _note_time(self, shapes: Dict[str, Tuple[int, ...]], ms: float) -> None:
        batch = next(iter(shapes.values()))[0] if shapes else 1
        times = self._gpu_ms.setdefault(int(batch), [])
        if len(times) < MAX_TIMINGS:
            times.append(ms)

    def settings(self) -> Dict[str, Any]:
        settings = dict(self._settings)
        if self._recipe is not None:
            graph = bool(self.parsed["use_cuda_graph"])
            commands = {"build": render_trtexec(self._recipe, engine="model.engine")}
            for batch in sorted(self._gpu_ms):
                commands["b%d" % batch] = render_trtexec(self._recipe, batch=batch, cuda_graph=graph)
            settings["trtexec"] = commands
        settings["gpu_compute_ms"] = {str(b): _summary(ms) for b, ms in sorted(self._gpu_ms.items())}
        return settings

    def close(self) -> None:
        self._executor = None
        self._graphs = {}
        self._engine = None
        backend, self._backend = self._backend, None
        self.close_backend(backend)

    @staticmethod
    def close_backend(backend: Optional[CudaBackend]) -> None:
        if backend is not None:
            try:
                backend.close()
            except Exception:  # a driver that already went away
                pass


def parse_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Check the job's ``runtime_options``; one RuntimeLoadError naming the fix."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise RuntimeLoadError(
            "tensorrt has no runtime option %s; its options are %s"
            % (", ".join(map(repr, unknown)), ", ".join(OPTION_NAMES))
        )
    backend = options.get("cuda_backend", "auto")
    if backend != "auto" and backend not in CUDA_BACKENDS:
        raise RuntimeLoadError(
            "tensorrt runtime option cuda_backend must be auto or one of %s, not %r"
            % (", ".join(CUDA_BACKENDS.names() or AUTO_ORDER), backend)
        )
    device = options.get("device", 0)
    if isinstance(device, bool) or not isinstance(device, int) or device < 0:
        raise RuntimeLoadError("tensorrt runtime option device must be a GPU index (0, 1, ...), not %r" % (device,))
    graph = options.get("use_cuda_graph", False)
    if not isinstance(graph, bool):
        raise RuntimeLoadError("tensorrt runtime option use_cuda_graph must be true or false, not %r" % (graph,))
    cache_dir = options.get("engine_cache_dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise RuntimeLoadError("tensorrt runtime option engine_cache_dir must be a folder path")
    return {"cuda_backend": backend, "device": device, "use_cuda_graph": graph, "engine_cache_dir": cache_dir}


def _input_shape(t: TensorIO, recipe: TRTBuildRecipe) -> List[Any]:
    """The shape the harness sees: a dynamic batch axis is None, the other axes the profile's opt."""
    profile = recipe.profile.get(t.name)
    if profile is None:
        return list(t.shape)
    return [None] + [int(d) for d in profile.opt[1:]]


def _largest_shape(t: TensorIO, recipe: TRTBuildRecipe) -> Tuple[int, ...]:
    profile = recipe.profile.get(t.name)
    if profile is not None:
        return tuple(profile.max)
    if any(d < 0 for d in t.shape):
        raise RuntimeLoadError("input %r has dynamic axes %s and the recipe gives it no profile" % (t.name, t.shape))
    return tuple(t.shape)


def _feed(feeds: Dict[str, np.ndarray], spec: InputSpec) -> np.ndarray:
    try:
        return feeds[spec.name]
    except KeyError:
        raise InferenceError(
            "TensorRT failed to run the model: no input %r (given: %s)" % (spec.name, ", ".join(sorted(feeds)))
        ) from None


def _summary(ms: List[float]) -> Dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    p50, p99 = np.percentile(a, [50, 99])
    return {"queries": int(a.size), "mean": float(a.mean()), "p50": float(p50), "p99": float(p99)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(str(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
