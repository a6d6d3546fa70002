"""CUDA memory, one stream, events and graphs for the TensorRT runtime, from whichever package is here.

TensorRT's Python API takes device pointers and a stream handle but allocates nothing for the
caller. Devices differ in what provides CUDA to Python: NVIDIA's TensorRT 10 samples use
``cuda-python``, JetPack 5's use ``pycuda`` (both in :mod:`agent.runtimes.cuda_bindings`), and many
machines have only ``cupy`` or ``torch`` (:mod:`agent.runtimes.cuda_arrays`). Each is one
:class:`CudaBackend`, registered in :data:`CUDA_BACKENDS` and detected lazily in :data:`AUTO_ORDER`
(or named by the runtime option ``cuda_backend``); the record says which one ran. Host buffers are
page-locked, as in NVIDIA's samples, so that copies are truly asynchronous on the stream.

Timing uses CUDA events recorded on the stream around the enqueue (the GPU's own clock); the
query's wall time, which the harness measures, ends with a stream synchronisation.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Tuple

import numpy as np

from agent.errors import RuntimeLoadError
from agent.registry import Registry

INSTALL_HINT = "pip install cuda-python (what NVIDIA's TensorRT samples use), or use pycuda, cupy or torch"


class CudaBackend:
    """One device, one stream. Pointers are plain ints; ``htod``/``dtoh`` are asynchronous on the stream."""

    name: ClassVar[str] = "base"
    supports_graphs: ClassVar[bool] = True

    def __init__(self, device: int = 0) -> None:
        self.device = device

    @property
    def stream_handle(self) -> int:
        raise NotImplementedError

    def device_name(self) -> str:
        raise NotImplementedError

    def compute_capability(self) -> Tuple[int, int]:
        raise NotImplementedError

    def alloc(self, nbytes: int) -> int:
        raise NotImplementedError

    def pinned(self, nbytes: int) -> np.ndarray:
        """A page-locked host buffer of ``nbytes`` (uint8)."""
        raise NotImplementedError

    def htod(self, ptr: int, host: np.ndarray) -> None:
        raise NotImplementedError

    def dtoh(self, host: np.ndarray, ptr: int) -> None:
        raise NotImplementedError

    def synchronize(self) -> None:
        raise NotImplementedError

    def new_event(self) -> Any:
        raise NotImplementedError

    def record(self, event: Any) -> None:
        raise NotImplementedError

    def elapsed_ms(self, start: Any, end: Any) -> float:
        raise NotImplementedError

    def capture(self, enqueue: Callable[[], None]) -> Any:
        """A CUDA graph of what ``enqueue`` launches on the stream."""
        raise RuntimeLoadError("%s cannot capture CUDA graphs: use cuda-python, cupy or torch" % self.name)

    def launch(self, graph: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release every allocation and the stream."""


CUDA_BACKENDS = Registry(
    "CUDA backend",
    {
        "cuda-python": "agent.runtimes.cuda_bindings:CudaPythonBackend",
        "pycuda": "agent.runtimes.cuda_bindings:PyCudaBackend",
        "cupy": "agent.runtimes.cuda_arrays:CupyBackend",
        "torch": "agent.runtimes.cuda_arrays:TorchBackend",
    },
    RuntimeLoadError,
)
#: tried in this order when the runtime option ``cuda_backend`` is "auto" (the default)
AUTO_ORDER = ("cuda-python", "pycuda", "cupy", "torch")


def open_backend(name: str = "auto", device: int = 0) -> CudaBackend:
    """The named backend on ``device``, or the first of :data:`AUTO_ORDER` that works here."""
    names = list(AUTO_ORDER) if name == "auto" else [name]
    reasons = []
    for candidate in names:
        try:
            backend: CudaBackend = CUDA_BACKENDS.get(candidate)(device)
            return backend
        except RuntimeLoadError as exc:
            reasons.append("%s: %s" % (candidate, exc))
        except Exception as exc:  # a driver error while starting (no GPU, wrong driver)
            reasons.append("%s: %s: %s" % (candidate, type(exc).__name__, exc))
    raise RuntimeLoadError("no CUDA backend works here (%s): %s" % ("; ".join(reasons), INSTALL_HINT))
