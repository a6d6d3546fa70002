"""The bookkeeping of channel pruning: channel groups, the layout of a tensor's channels, and edits.

:mod:`pipeline.passes.channel_groups` fills a :class:`ChannelGraph` while it walks a model;
:mod:`pipeline.passes.prune_channels` reads it to choose keep-sets and slice the weights. A **group**
is one keep-set shared by every layer whose output channels must be pruned identically (merged
through a union-find: :meth:`ChannelGraph.merge`). A tensor's **layout** says which groups its axis 1
is made of, end to end, and how many features each channel was flattened into.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """``size`` consecutive channels owned by ``group``; None: channels that are never pruned."""

    group: int | None
    size: int


@dataclass(frozen=True)
class Layout:
    """What axis 1 of a tensor is made of: segments end to end, each channel spread over ``spatial``."""

    segments: tuple[Segment, ...]
    spatial: int = 1

    @property
    def channels(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def width(self) -> int:
        """Length of axis 1: channels times the features each was flattened into."""
        return self.channels * self.spatial


@dataclass(frozen=True)
class Source:
    """A layer whose output channels define a group: its node, weight input and output-channel axis."""

    node: int
    weight: int
    axis: int


@dataclass(frozen=True)
class Edit:
    """A change pruning needs: slice ``node``'s input ``input`` along ``axis`` to the keep-set of ``layout``.

    ``kind`` is ``"slice"``; ``"group"`` sets a depthwise Conv's ``group`` to the kept channel count;
    ``"reshape"`` rewrites a flattening Reshape's target width (input 1) to the kept width."""

    node: int
    input: int
    axis: int
    layout: Layout
    kind: str = "slice"


@dataclass
class ChannelGroup:
    size: int
    sources: list[Source] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)


@dataclass
class ChannelGraph:
    """The result of :func:`analyse`: groups (merged through :meth:`root`) and the edits."""

    groups: list[ChannelGroup] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)

    def root(self, group: int) -> int:
        while self.parent[group] != group:
            self.parent[group] = self.parent[self.parent[group]]
            group = self.parent[group]
        return group

    def new_group(self, size: int, source: Source) -> int:
        self.groups.append(ChannelGroup(size, [source]))
        self.parent.append(len(self.parent))
        return len(self.groups) - 1

    def merge(self, a: int, b: int) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra
            self.groups[ra].sources.extend(self.groups[rb].sources)
            self.groups[ra].frozen.extend(self.groups[rb].frozen)

    def freeze(self, layout: Layout, reason: str) -> None:
        for segment in layout.segments:
            if segment.group is not None:
                self.groups[self.root(segment.group)].frozen.append(reason)

    def roots(self) -> list[int]:
        return sorted({self.root(g) for g in range(len(self.groups))})
