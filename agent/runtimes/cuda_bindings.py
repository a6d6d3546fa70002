"""CUDA through NVIDIA's bindings: ``cuda-python`` (TensorRT 10's samples) and ``pycuda`` (JetPack 5's).

Both are thin layers over the CUDA runtime/driver APIs; see :mod:`agent.runtimes.cuda_mem` for the seam.
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

import numpy as np

from agent.errors import RuntimeLoadError
from agent.runtimes.cuda_mem import CudaBackend


class CudaPythonBackend(CudaBackend):
    """NVIDIA's ``cuda-python`` runtime bindings (``cuda.bindings.runtime``, formerly ``cuda.cudart``)."""

    name = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        try:
            from cuda.bindings import runtime as cudart  # cuda-python 12.6 and later
        except ImportError:
            try:
                from cuda import cudart  # type: ignore[no-redef]
            except ImportError as exc:
                raise RuntimeLoadError("cuda-python is not installed") from exc
        self._rt = cudart
        self._call(cudart.cudaSetDevice(device))
        self._stream = self._call(cudart.cudaStreamCreate())
        self._device_ptrs: List[int] = []
        self._host_ptrs: List[int] = []

    def _call(self, result: Any) -> Any:
        err, rest = result[0], result[1:]
        if err != self._rt.cudaError_t.cudaSuccess:
            raise RuntimeError("CUDA runtime error %s" % getattr(err, "name", err))
        return rest[0] if len(rest) == 1 else rest

    @property
    def stream_handle(self) -> int:
        return int(self._stream)

    def device_name(self) -> str:
        props = self._call(self._rt.cudaGetDeviceProperties(self.device))
        name = props.name
        return (str(name, "utf-8", "replace") if isinstance(name, bytes) else str(name)).split("\x00")[0].strip()

    def compute_capability(self) -> Tuple[int, int]:
        props = self._call(self._rt.cudaGetDeviceProperties(self.device))
        return int(props.major), int(props.minor)

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._call(self._rt.cudaMalloc(max(1, nbytes))))
        self._device_ptrs.append(ptr)
        return ptr

    def pinned(self, nbytes: int) -> np.ndarray:
        import ctypes

        ptr = int(self._call(self._rt.cudaMallocHost(max(1, nbytes))))
        self._host_ptrs.append(ptr)
        return np.ctypeslib.as_array((ctypes.c_uint8 * max(1, nbytes)).from_address(ptr))[:nbytes]

    def htod(self, ptr: int, host: np.ndarray) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self._rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, self._stream))

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self._rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, self._stream))

    def synchronize(self) -> None:
        self._call(self._rt.cudaStreamSynchronize(self._stream))

    def new_event(self) -> Any:
        return self._call(self._rt.cudaEventCreate())

    def record(self, event: Any) -> None:
        self._call(self._rt.cudaEventRecord(event, self._stream))

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self._call(self._rt.cudaEventElapsedTime(start, end)))

    def capture(self, enqueue: Callable[[], None]) -> Any:
        rt = self._rt
        self._call(rt.cudaStreamBeginCapture(self._stream, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
        enqueue()
        graph = self._call(rt.cudaStreamEndCapture(self._stream))
        return self._call(rt.cudaGraphInstantiateWithFlags(graph, 0))

    def launch(self, graph: Any) -> None:
        self._call(self._rt.cudaGraphLaunch(graph, self._stream))

    def close(self) -> None:
        for ptr in self._device_ptrs:
            self._rt.cudaFree(ptr)
        for ptr in self._host_ptrs:
            self._rt.cudaFreeHost(ptr)
        self._device_ptrs, self._host_ptrs = [], []
        self._rt.cudaStreamDestroy(self._stream)


class PyCudaBackend(CudaBackend):
    """``pycuda.driver`` on the device's primary context (the one the CUDA runtime and TensorRT use)."""

    name = "pycuda"
    supports_graphs = False

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        try:
            import pycuda.driver as drv
        except ImportError as exc:
            raise RuntimeLoadError("pycuda is not installed") from exc
        self._drv = drv
        drv.init()
        self._device = drv.Device(device)
        self._context = self._device.retain_primary_context()
        self._context.push()
        self._stream = drv.Stream()
        self._keep: List[Any] = []

    @property
    def stream_handle(self) -> int:
        return int(self._stream.handle)

    def device_name(self) -> str:
        return str(self._device.name())

    def compute_capability(self) -> Tuple[int, int]:
        major, minor = self._device.compute_capability()
        return int(major), int(minor)

    def alloc(self, nbytes: int) -> int:
        allocation = self._drv.mem_alloc(max(1, nbytes))
        self._keep.append(allocation)
        return int(allocation)

    def pinned(self, nbytes: int) -> np.ndarray:
        buf = self._drv.pagelocked_empty(max(1, nbytes), np.uint8)
        self._keep.append(buf)
        return buf[:nbytes]

    def htod(self, ptr: int, host: np.ndarray) -> None:
        self._drv.memcpy_htod_async(ptr, host, self._stream)

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        self._drv.memcpy_dtoh_async(host, ptr, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def new_event(self) -> Any:
        return self._drv.Event()

    def record(self, event: Any) -> None:
        event.record(self._stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(end.time_since(start))

    def close(self) -> None:
        self._keep = []
        try:
            self._context.pop()
        except Exception:  # already popped by the interpreter's exit
            pass
