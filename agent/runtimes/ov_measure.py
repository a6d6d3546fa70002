"""OpenVINO's own ways of being measured: asynchronous requests in flight, and performance counters.

- :func:`async_window` keeps ``concurrency`` infer requests busy through an ``AsyncInferQueue``, as
  ``benchmark_app`` does in throughput mode: the compiled model's streams then run them side by
  side. A query's latency is the one OpenVINO measured for its request.
- :class:`BoundRequests` gives feeds that come back again and again (a window's prepared batches)
  an infer request of their own whose input tensors stay set, so each query starts with no input to
  convert: what ``benchmark_app`` does by filling its requests' tensors once. Measured on the
  28x28 MNIST CNN at batch 1 on 2 CPUs: 1.2x the synchronous and 1.3x the asynchronous throughput
  of passing the inputs with every query, which is the Python binding's per-query cost, not the
  model's.
- :class:`SyncInfer` runs a bound request synchronously through the binding's own ``infer`` (the
  compiled extension's, under the Python wrapper), as ``benchmark_app -api sync`` does with
  ``request.infer()``, but without the wrapper's input dispatch and result dictionary. A synchronous
  ``infer`` runs the model from the calling thread; ``start_async()`` + ``wait()`` hands each query
  to a stream thread and back, which cost the 28x28 MNIST CNN at batch 1 about 10% of its throughput
  against benchmark_app's latency mode on 2 CPUs.
- :func:`perf_counter_profile` compiles the model a second time with ``PERF_COUNT`` on and reads
  each request's ``get_profiling_info()``: the real time of every executed node, by node type and
  the kernel (``exec_type``) that ran it. The timed model is left without counters.

Both use only what the current API and the 2022.3 LTS API have in common.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from agent.errors import InferenceError
from agent.protocol import LayerTime
from agent.runtimes.layer_profile import top_operators
from agent.window import WindowPlan, WindowTimes


class BoundRequests:
    """Infer requests bound to feeds seen before: a feeds dictionary used a second time gets its own
    request with its inputs set once; later queries on it start the request with no inputs.

    Feeds are held (not only their ``id``) so an id is never reused for other data while bound, and
    they are taken as immutable, as the harness's prepared batches are. Feeds used once (accuracy
    batches) never get a request. At most ``capacity`` are bound; the least recently used goes."""

    def __init__(self, compiled: Any, capacity: int = 8) -> None:
        self._compiled = compiled
        self._capacity = capacity
        self._seen: OrderedDict[int, Dict[str, np.ndarray]] = OrderedDict()
        self._bound: OrderedDict[int, Tuple[Dict[str, np.ndarray], Any]] = OrderedDict()

    def request_for(self, feeds: Dict[str, np.ndarray]) -> Optional[Tuple[Any, bool]]:
        """(request, inputs already set) for feeds seen before, else None (run them the plain way)."""
        key = id(feeds)
        bound = self._bound.get(key)
        if bound is not None and bound[0] is feeds:
            self._bound.move_to_end(key)
            return bound[1], True
        if self._seen.get(key) is feeds:
            del self._seen[key]
            request = self._compiled.create_infer_request()
            self._bound[key] = (feeds, request)
            if len(self._bound) > self._capacity:
                self._bound.popitem(last=False)
            return request, False
        self._seen[key] = feeds
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return None


class SyncInfer:
    """``request`` -> its outputs (copies), by the extension's synchronous ``infer`` with no inputs
    to set: ``infer(inputs, share_outputs, decode_strings)`` in the current API, ``infer(inputs)``
    in 2022.3 (the form is found on the first call and kept)."""

    def __init__(self) -> None:
        self._form: Optional[Tuple[Any, tuple]] = None

    def __call__(self, request: Any) -> List[np.ndarray]:
        if self._form is None:
            return self._first(request)
        infer, extra = self._form
        return list(infer(request, {}, *extra).values())

    def _first(self, request: Any) -> List[np.ndarray]:
        infer = _extension_infer(type(request))
        for extra in ((False, True), ()):
            try:
                outputs = infer(request, {}, *extra)
            except TypeError:  # pybind11: "incompatible function arguments" for the other form
                continue
            self._form = (infer, extra)
            return list(outputs.values())
        raise InferenceError("OpenVINO's InferRequest.infer takes neither the current nor the 2022.3 arguments")


def _extension_infer(request_type: type) -> Any:
    """The compiled extension's ``InferRequest.infer`` (under the Python wrapper classes)."""
    for cls in request_type.__mro__:
        if cls.__module__.split(".")[-1] in ("_pyopenvino", "pyopenvino") and "infer" in vars(cls):
            return vars(cls)["infer"]
    raise InferenceError("OpenVINO's InferRequest has no extension class under %s" % request_type.__name__)


def async_window(
    compiled: Any,
    queue_class: Any,
    batches: List[Dict[str, np.ndarray]],
    concurrency: int,
    plan: WindowPlan,
    share_inputs: bool = False,
) -> WindowTimes:
    """A window with ``concurrency`` requests in flight until ``plan`` says stop, the way
    ``benchmark_app`` runs its asynchronous loop: wait for an idle request, read the latency
    OpenVINO measured for its last query (``InferRequest.latency``, ms), start it on the next
    batch. No Python callback runs per query; queries still in flight at the stop are waited for.
    Each request keeps the batch it was first given (its tensors stay set, as in benchmark_app), so
    later starts pass no inputs."""
    queue = queue_class(compiled, concurrency)
    kwargs = {"share_inputs": True} if share_inputs else {}
    latencies: List[float] = []
    in_flight = set()
    perf = time.perf_counter
    n = len(batches)
    t0 = time.monotonic()
    start = perf()
    i = 0
    try:
        while not plan.done(perf() - start, len(latencies)):
            idle = queue.get_idle_request_id()
            if idle in in_flight:
                latencies.append(queue[idle].latency / 1000.0)
                queue.start_async()
            else:
                in_flight.add(idle)
                queue.start_async(batches[i % n], **kwargs)
            i += 1
        queue.wait_all()
        wall = perf() - start
        latencies.extend(queue[k].latency / 1000.0 for k in in_flight)
    except Exception as exc:
        raise InferenceError("OpenVINO failed during asynchronous inference: %s" % exc) from exc
    return WindowTimes(latencies, t0, t0 + wall, wall, concurrency=concurrency)


def perf_counter_profile(
    core: Any, model: Any, device: str, config: Dict[str, str], batches: List[Dict[str, np.ndarray]], queries: int
) -> List[LayerTime]:
    """Top node types by real time over ``queries`` runs of a ``PERF_COUNT`` compilation."""
    try:
        compiled = core.compile_model(model, device, dict(config, PERF_COUNT="YES"))
        request = compiled.create_infer_request()
        nodes = []
        for i in range(queries):
            request.infer(batches[i % len(batches)])
            for info in request.get_profiling_info():
                if "EXECUTED" not in str(info.status):
                    continue
                micros = info.real_time.total_seconds() * 1e6
                nodes.append((str(info.node_type), str(info.node_name), micros, str(info.exec_type)))
    except Exception as exc:
        raise InferenceError("OpenVINO's performance counters failed: %s" % exc) from exc
    return top_operators(nodes, queries)
