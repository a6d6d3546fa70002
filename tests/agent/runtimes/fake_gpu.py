"""A stand-in for the GPU this machine lacks: device memory, one stream per backend, events, graphs.

It sits exactly where the hardware boundary is: :class:`FakeCudaBackend` implements the agent's
:class:`~agent.runtimes.cuda_mem.CudaBackend` seam (registered under ``"fake"`` like any plug-in),
and the fake TensorRT in :mod:`tests.agent.runtimes.fake_tensorrt` reads and writes the same device
memory when an engine runs. Pointers are ints; reading one that was never allocated raises, as an
illegal memory access would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.runtimes.cuda_mem import CudaBackend


class FakeGPU:
    def __init__(self, name: str = "NVIDIA Fake Orin (nvgpu)", capability: tuple[int, int] = (8, 7)) -> None:
        self.name = name
        self.capability = capability
        self.memory: dict[int, bytearray] = {}
        self.streams: set[int] = set()
        self.calls: list[str] = []
        self._next = 0x10000

    def malloc(self, nbytes: int) -> int:
        ptr = self._next
        self._next += (nbytes + 0xFFF) // 0x1000 * 0x1000 + 0x1000
        self.memory[ptr] = bytearray(nbytes)
        return ptr

    def read(self, ptr: int, nbytes: int) -> bytes:
        if ptr not in self.memory or len(self.memory[ptr]) < nbytes:
            raise RuntimeError(f"CUDA error: an illegal memory access was encountered (pointer {ptr:#x})")
        return bytes(self.memory[ptr][:nbytes])

    def write(self, ptr: int, data: bytes) -> None:
        if ptr not in self.memory or len(self.memory[ptr]) < len(data):
            raise RuntimeError(f"CUDA error: an illegal memory access was encountered (pointer {ptr:#x})")
        self.memory[ptr][: len(data)] = data


#: the one GPU of this "machine"; tests reset it through the ``fake_gpu`` fixture
GPU = FakeGPU()


class FakeCudaBackend(CudaBackend):
    name = "fake"

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        if device != 0:
            raise RuntimeError(f"CUDA error: invalid device ordinal {device}")
        self.gpu = GPU
        self._stream = 0x5000 + len(GPU.streams)
        GPU.streams.add(self._stream)
        self.closed = False

    @property
    def stream_handle(self) -> int:
        return self._stream

    def device_name(self) -> str:
        return self.gpu.name

    def compute_capability(self) -> tuple[int, int]:
        return self.gpu.capability

    def alloc(self, nbytes: int) -> int:
        return self.gpu.malloc(nbytes)

    def pinned(self, nbytes: int) -> np.ndarray:
        return np.zeros(nbytes, np.uint8)

    def htod(self, ptr: int, host: np.ndarray) -> None:
        self.gpu.write(ptr, host.tobytes())

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        host[:] = np.frombuffer(self.gpu.read(ptr, host.nbytes), np.uint8)

    def synchronize(self) -> None:
        self.gpu.calls.append("synchronize")

    def new_event(self) -> Any:
        return [0.0]

    def record(self, event: Any) -> None:
        event[0] = time.perf_counter()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return (end[0] - start[0]) * 1000.0

    def capture(self, enqueue: Callable[[], None]) -> Any:
        self.gpu.calls.append("capture")
        return ("graph", enqueue)

    def launch(self, graph: Any) -> None:
        self.gpu.calls.append("graph_launch")
        graph[1]()

    def close(self) -> None:
        self.closed = True
        self.gpu.streams.discard(self._stream)
