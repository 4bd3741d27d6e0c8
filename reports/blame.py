"""Which end of a bad pair to blame: the fewest nodes that explain every bad pair.

A node that drops MASTER_PORT fails every pair towards it, and a shaped node every pair it
is in; the peers of those pairs are healthy. Greedy vertex cover: take the node in the most
unexplained bad pairs, repeat. Ties are all taken, so a lone bad link blames both of its
ends (nothing in the data tells them apart).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from preflight.results import Result, Status

from .formatting import SEVERITY


def blamed(pairs: Iterable[tuple[str, str]]) -> set[str]:
    left = {(a, b) for a, b in pairs if a != b}
    chosen: set[str] = set()
    while left:
        counts = Counter(node for pair in left for node in pair)
        top = max(counts.values())
        picked = {node for node, count in counts.items() if count == top}
        chosen |= picked
        left = {pair for pair in left if not picked & set(pair)}
    return chosen


def pair_blame(results: Sequence[Result]) -> dict[int, tuple[str, ...]]:
    """For each bad pair result (by index): the ends of it that its check's cover blames."""
    bad: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    for index, result in enumerate(results):
        if result.pair and SEVERITY[result.status.value] >= SEVERITY[Status.WARN.value]:
            bad[result.check][index] = result.pair
    blame: dict[int, tuple[str, ...]] = {}
    for pairs in bad.values():
        cover = blamed(pairs.values())
        blame.update({i: tuple(n for n in pair if n in cover) for i, pair in pairs.items()})
    return blame


def counted_against(result: Result, blame: tuple[str, ...] | None) -> tuple[str, ...]:
    """The nodes a result counts against: a bad pair only its blamed ends, else all it names."""
    return blame if blame is not None else result.nodes
