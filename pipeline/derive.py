"""Figures derived from each record and its device's profile: cost per inference, the roofline and
the memory one query needs. Attached once, before ranking, so that the ranking, the planner and
every report read them off the :class:`~pipeline.record.Record` and agree.

A figure that cannot be derived is None on the record, and a note says which input is missing and
how to give it (a price flag, a profile of one's own with the missing figure).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.cost import CostOptions, CostUnavailable, record_cost
from pipeline.errors import InputError
from pipeline.record import Record
from pipeline.roofline import RooflineUnavailable, graph_counts_for, memory_fit, pick_count, roofline_of
from targets import ProfileError, TargetProfile, load_profiles

NO_COUNT_NOTE = "no roofline: the build's graph was not counted (edgeprof counts it when it builds)"


def load_target_profiles(extra_dirs: Iterable[Path] = ()) -> dict[str, TargetProfile]:
    """The shipped profiles and the user's (``--targets-dir``, ``$EDGEPROF_TARGETS_DIR``), by id;
    InputError for a malformed profile, naming the file and field."""
    try:
        catalog = load_profiles(list(extra_dirs))
    except ProfileError as exc:
        raise InputError(str(exc)) from None
    return dict(catalog.items())


def derive_figures(
    records: Sequence[Record],
    profiles: Mapping[str, TargetProfile],
    graph_counts: Mapping[str, Any],
    cost_options: CostOptions,
) -> list[Record]:
    """``records`` with ``cost``, ``roofline`` and ``memory`` filled where their inputs exist, and a
    note on each figure that could not be worked out."""
    out = []
    for record in records:
        profile = profiles.get(record.target)
        notes = list(record.notes)
        cost = roofline = memory = None
        try:
            cost = record_cost(record, profile, cost_options)
        except CostUnavailable as exc:
            notes.append(f"no cost figure: {exc}")
        count = pick_count(graph_counts_for(graph_counts, record.variant_id), record.batch_size)
        if count is None:
            notes.append(NO_COUNT_NOTE)
        elif profile is None:
            target = f"target {record.target!r} is not a known profile" if record.target else "no target profile"
            notes.append(f"no roofline: device {record.device_id} has {target} (see edgeprof targets ls)")
        else:
            memory = memory_fit(record, count, profile)
            try:
                roofline = roofline_of(record, count, profile)
            except RooflineUnavailable as exc:
                notes.append(f"no roofline: {exc}")
        out.append(dataclasses.replace(record, cost=cost, roofline=roofline, memory_fit=memory, notes=tuple(notes)))
    return out
