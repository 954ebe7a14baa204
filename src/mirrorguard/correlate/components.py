"""Connected components of an incident's alerts, for splitting (see :mod:`.engine`).

Two alerts are connected when they share a key that still links (not a hub, not stopped)
and their times are within the window of each other along that key's time-ordered
sightings. Union-find with path halving (Tarjan, *Efficiency of a Good But Not Linear Set
Union Algorithm*, JACM 1975).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol


class _Rec(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def canonical(self) -> str: ...


def components(recs: Sequence[_Rec], links: Callable[[str], bool],
               window: timedelta) -> list[list[str]]:
    """Alert id groups, each in time order, groups ordered by their earliest alert."""
    index = {r.id: i for i, r in enumerate(recs)}
    parent = list(range(len(recs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_key: dict[str, list[tuple[datetime, int]]] = {}
    for i, r in enumerate(recs):
        if r.canonical != r.id and r.canonical in index:
            union(i, index[r.canonical])
        for k in r.keys:
            if links(k):
                by_key.setdefault(k, []).append((r.time, i))
    for seen in by_key.values():
        seen.sort()
        for (t0, a), (t1, b) in pairwise(seen):
            if t1 - t0 <= window:
                union(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(recs)):
        groups.setdefault(find(i), []).append(i)
    ordered = sorted(groups.values(), key=lambda g: min((recs[i].time, recs[i].id) for i in g))
    return [[recs[i].id for i in sorted(g, key=lambda i: (recs[i].time, recs[i].id))]
            for g in ordered]
