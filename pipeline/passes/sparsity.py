"""What each kind of pruning buys on each runtime, so a report never promises a speed-up a kernel cannot give.

A pruning pass declares the zeros it leaves (:attr:`pipeline.passes.base.Pass.sparsity`). Whether
those zeros make inference faster depends on the runtime, not on the pass:

- ``structured``: whole channels are gone, the graph itself is smaller. Every runtime does fewer
  FLOPs on smaller tensors; the speed-up is real wherever the layer was compute- or memory-bound.
- ``2:4``: half the weights are zero in a pattern sparse tensor cores run. Only TensorRT exploits
  it, only on GPUs of compute capability 8.0 or newer (Ampere: Jetson Orin, A100; Ada: L4; Hopper:
  H100), and only when the engine is built with sparsity on (``trtexec --sparsity=enable``,
  ``BuilderFlag.SPARSE_WEIGHTS``); even then TensorRT picks a sparse kernel only where it times faster.
- ``unstructured``: scattered zeros. Dense kernels multiply them like any other value; the file
  compresses better. (OpenVINO's CPU plugin can pack sparse INT8 FullyConnected weights on Xeons with
  AMX when ``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE`` is set; edgeprof does not set it.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SparsityBenefit:
    """Who can turn one kind of zeros into speed, and how."""

    kind: str
    label: str
    """How a sentence names it: ``"2:4 sparse weights"``."""
    runtimes: tuple[str, ...] | None
    """Runtimes that run it faster; None: every runtime (the graph itself is smaller)."""
    how: str
    """What the runtime needs to do it, as a clause for a sentence."""
    otherwise: str
    """What the zeros buy on any other runtime."""


#: kind -> what it buys. Runtime names are those of ``agent.runtimes`` (``onnxruntime``, ``openvino``, ``tensorrt``).
SPARSITY_BENEFITS: dict[str, SparsityBenefit] = {
    "structured": SparsityBenefit(
        kind="structured",
        label="Structured pruning",
        runtimes=None,
        how="whole channels were removed, so the graph does fewer FLOPs on smaller tensors on any runtime",
        otherwise="",
    ),
    "2:4": SparsityBenefit(
        kind="2:4",
        label="2:4 sparse weights",
        runtimes=("tensorrt",),
        how=(
            "TensorRT runs 2:4 sparse weights on sparse tensor cores only when the engine is built with "
            "--sparsity=enable (BuilderFlag.SPARSE_WEIGHTS) on a GPU of compute capability 8.0 or newer "
            "(Jetson Orin, A100, L4, H100), and only for layers where its timing finds them faster"
        ),
        otherwise="dense kernels multiply the zeros, so expect dense speed; the file compresses better",
    ),
    "unstructured": SparsityBenefit(
        kind="unstructured",
        label="Unstructured sparse weights",
        runtimes=(),
        how="",
        otherwise=(
            "dense kernels multiply scattered zeros like any other value, so no speed-up; the file compresses better"
        ),
    ),
}


def sparsity_benefit(kind: str) -> SparsityBenefit:
    """The table's row for ``kind``; an unknown kind is a ValueError naming the known ones."""
    try:
        return SPARSITY_BENEFITS[kind]
    except KeyError:
        raise ValueError(f"unknown sparsity kind {kind!r}: choose among {', '.join(SPARSITY_BENEFITS)}") from None


def can_speed_up(kind: str | None, runtime: str) -> bool:
    """True when ``runtime`` can run ``kind`` zeros faster than the dense model (under the conditions of
    :func:`sparsity_note`); False for a dense build (``kind`` None)."""
    if kind is None:
        return False
    runtimes = sparsity_benefit(kind).runtimes
    return runtimes is None or runtime in runtimes


def sparsity_note(kind: str | None, runtime: str) -> str:
    """The sentence a report prints for a variant with ``kind`` zeros measured on ``runtime``.

    ``kind`` None (a dense build) gives ``""``. An unknown kind is a ValueError naming the known ones.
    """
    if kind is None:
        return ""
    benefit = sparsity_benefit(kind)
    if benefit.runtimes is None:
        return f"{benefit.label}: {benefit.how}."
    if runtime in benefit.runtimes:
        tail = "built without that flag, or on an older GPU, expect dense speed"
        return f"{benefit.label} on {runtime}: {benefit.how}; {tail}."
    return f"{benefit.label} on {runtime}: {benefit.otherwise}."
