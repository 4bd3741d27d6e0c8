"""Which end of a bad pair to blame: the fewest nodes that explain every bad pair.

A node that drops MASTER_PORT fails every pair towards it, and a shaped node every pair it
is in; the peers of those pairs are healthy. Greedy vertex cover: take the node in the most
unexplained bad pairs, repeat. Ties are all taken, so a lone bad link blames both of its
ends (nothing in the data tells them apart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class Directions:
    """Per node, how many of its outbound and inbound directed tests passed, so the end of
    a failing src -> dst to point at can be told from the rest of the matrix."""

    passed: Mapping[tuple[str, str], bool]
    outbound: Mapping[str, tuple[int, int]]  # node -> (passed, tested)
    inbound: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, passed: Mapping[tuple[str, str], bool]) -> Directions:
        outbound: dict[str, list[int]] = {}
        inbound: dict[str, list[int]] = {}
        for (src, dst), ok in passed.items():
            for side, node in ((outbound, src), (inbound, dst)):
                counts = side.setdefault(node, [0, 0])
                counts[0] += ok
                counts[1] += 1
        return cls(passed, {n: (c[0], c[1]) for n, c in outbound.items()},
                   {n: (c[0], c[1]) for n, c in inbound.items()})

    def blame(self, src: str, dst: str) -> str:
        """For a failing src -> dst: "source" when every connection out of src fails while
        every one into it works (src's route, source address or OUTPUT rules);
        "destination" when nothing gets into dst; "one-way" when dst -> src works (dst
        drops what src sends); "both-ways" when only this pair fails, in both directions;
        else "destination"."""
        out_ok, out_n = self.outbound.get(src, (0, 0))
        in_ok, in_n = self.inbound.get(src, (0, 0))
        if out_n >= 2 and out_ok == 0 and in_n and in_ok == in_n:
            return "source"
        dst_in_ok, dst_in_n = self.inbound.get(dst, (0, 0))
        if dst_in_n >= 2 and dst_in_ok == 0:
            return "destination"  # nothing gets into dst: its INPUT rules
        back = self.passed.get((dst, src))
        if back:
            return "one-way"
        if back is False and dst_in_n - dst_in_ok == 1 and out_n - out_ok == 1:
            return "both-ways"
        return "destination"


_directions: dict[tuple[int, str], tuple[object, Directions]] = {}


def directions(pairs: Mapping[str, Any], label: str,
               passed: Callable[[Any], bool]) -> Directions:
    """Directions of a probe's {"src|dst": entry} pairs, computed once per probe and label
    (a check runs once per pair: recomputing each time would cost N^2 per pair)."""
    key = (id(pairs), label)
    hit = _directions.get(key)
    if hit is None or hit[0] is not pairs:
        found = Directions.of({_split(k): passed(v) for k, v in pairs.items()})
        hit = _directions[key] = (pairs, found)
    return hit[1]


def _split(key: str) -> tuple[str, str]:
    src, _, dst = key.partition("|")
    return src, dst
