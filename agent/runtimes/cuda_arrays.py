"""CUDA through an array framework already on the device: CuPy or PyTorch.

Their allocators, streams, events and graph capture serve the TensorRT runtime when neither
``cuda-python`` nor ``pycuda`` is installed; see :mod:`agent.runtimes.cuda_mem` for the seam.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from agent.errors import RuntimeLoadError
from agent.runtimes.cuda_mem import CudaBackend


class CupyBackend(CudaBackend):
    """CuPy's memory pool, stream and events; graphs through ``Stream.begin_capture``."""

    name = "cupy"

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        try:
            import cupy
            import cupyx
        except ImportError as exc:
            raise RuntimeLoadError("cupy is not installed") from exc
        self._cp, self._cpx = cupy, cupyx
        self._device = cupy.cuda.Device(device)
        self._device.use()
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self._memory: Dict[int, Any] = {}
        self._pinned: List[Any] = []

    @property
    def stream_handle(self) -> int:
        return int(self._stream.ptr)

    def device_name(self) -> str:
        name = self._cp.cuda.runtime.getDeviceProperties(self.device)["name"]
        return str(name, "utf-8", "replace") if isinstance(name, bytes) else str(name)

    def compute_capability(self) -> Tuple[int, int]:
        cc = str(self._device.compute_capability)  # "87" for 8.7
        return int(cc[:-1]), int(cc[-1])

    def alloc(self, nbytes: int) -> int:
        memory = self._cp.cuda.alloc(max(1, nbytes))
        self._memory[int(memory.ptr)] = memory
        return int(memory.ptr)

    def pinned(self, nbytes: int) -> np.ndarray:
        buf = self._cpx.empty_pinned((max(1, nbytes),), dtype=np.uint8)
        self._pinned.append(buf)
        return buf[:nbytes]

    def htod(self, ptr: int, host: np.ndarray) -> None:
        self._memory[ptr].copy_from_host_async(host.ctypes.data, host.nbytes, self._stream)

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        self._memory[ptr].copy_to_host_async(host.ctypes.data, host.nbytes, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def new_event(self) -> Any:
        return self._cp.cuda.Event()

    def record(self, event: Any) -> None:
        event.record(self._stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self._cp.cuda.get_elapsed_time(start, end))

    def capture(self, enqueue: Callable[[], None]) -> Any:
        self._stream.begin_capture()
        try:
            enqueue()
        finally:
            graph = self._stream.end_capture()
        return graph

    def launch(self, graph: Any) -> None:
        graph.launch(self._stream)

    def close(self) -> None:
        self._memory, self._pinned = {}, []


class TorchBackend(CudaBackend):
    """PyTorch's caching allocator, a side stream and ``torch.cuda.CUDAGraph``."""

    name = "torch"

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        try:
            import torch
        except ImportError as exc:
            raise RuntimeLoadError("torch is not installed") from exc
        if not torch.cuda.is_available():
            raise RuntimeLoadError("torch is installed without a usable CUDA device")
        self._torch = torch
        self._device = torch.device("cuda", device)
        self._stream = torch.cuda.Stream(device=self._device)
        self._tensors: Dict[int, Any] = {}
        self._pinned: List[Any] = []

    @property
    def stream_handle(self) -> int:
        return int(self._stream.cuda_stream)

    def device_name(self) -> str:
        return str(self._torch.cuda.get_device_name(self.device))

    def compute_capability(self) -> Tuple[int, int]:
        major, minor = self._torch.cuda.get_device_capability(self.device)
        return int(major), int(minor)

    def alloc(self, nbytes: int) -> int:
        tensor = self._torch.empty(max(1, nbytes), dtype=self._torch.uint8, device=self._device)
        self._tensors[int(tensor.data_ptr())] = tensor
        return int(tensor.data_ptr())

    def pinned(self, nbytes: int) -> np.ndarray:
        tensor = self._torch.empty(max(1, nbytes), dtype=self._torch.uint8, pin_memory=True)
        self._pinned.append(tensor)
        return tensor.numpy()[:nbytes]

    def _bytes(self, host: np.ndarray) -> Any:
        return self._torch.from_numpy(host.reshape(-1).view(np.uint8))

    def htod(self, ptr: int, host: np.ndarray) -> None:
        with self._torch.cuda.stream(self._stream):
            self._tensors[ptr][: host.nbytes].copy_(self._bytes(host), non_blocking=True)

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        with self._torch.cuda.stream(self._stream):
            self._bytes(host).copy_(self._tensors[ptr][: host.nbytes], non_blocking=True)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def new_event(self) -> Any:
        return self._torch.cuda.Event(enable_timing=True)

    def record(self, event: Any) -> None:
        event.record(self._stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def capture(self, enqueue: Callable[[], None]) -> Any:
        graph = self._torch.cuda.CUDAGraph()
        with self._torch.cuda.graph(graph, stream=self._stream):
            enqueue()
        return graph

    def launch(self, graph: Any) -> None:
        with self._torch.cuda.stream(self._stream):
            graph.replay()

    def close(self) -> None:
        self._tensors, self._pinned = {}, []
