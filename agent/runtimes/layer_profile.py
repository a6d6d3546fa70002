"""Per-layer profiles: operator times from a runtime's own profiler, summed by operator type.

Each backend turns its profiler's output (ONNX Runtime's JSON trace, OpenVINO's performance counters)
into ``(op type, node name, microseconds, detail)`` tuples; :func:`top_operators` sums them by type
and keeps the largest, as :class:`~agent.protocol.LayerTime` lines per query. The profile runs in a
pass of its own after the timed window, so profiling never slows the window it describes.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Set, Tuple

from agent.protocol import LayerTime

#: Operator types kept in a profile, largest first.
TOP_OPERATORS = 10


def top_operators(
    node_times: Iterable[Tuple[str, str, float, str]], queries: int, keep: int = TOP_OPERATORS
) -> List[LayerTime]:
    """``(op_type, node, time_us, detail)`` over ``queries`` runs -> the ``keep`` slowest types."""
    total_us: Dict[str, float] = {}
    nodes: Dict[str, Set[str]] = {}
    details: Dict[str, Set[str]] = {}
    for op_type, node, time_us, detail in node_times:
        total_us[op_type] = total_us.get(op_type, 0.0) + float(time_us)
        nodes.setdefault(op_type, set()).add(node)
        if detail:
            details.setdefault(op_type, set()).add(detail)
    overall = sum(total_us.values())
    ranked = sorted(total_us.items(), key=lambda kv: -kv[1])[:keep]
    runs = max(1, queries)
    return [
        LayerTime(
            op_type=op_type,
            time_ms=us / runs / 1000.0,
            share=us / overall if overall > 0 else 0.0,
            nodes=len(nodes[op_type]),
            detail=", ".join(sorted(details.get(op_type, ()))),
        )
        for op_type, us in ranked
    ]
