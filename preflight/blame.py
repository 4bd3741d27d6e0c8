"""Which end of a bad pair to blame: the fewest nodes that explain every bad pair.

A node that drops MASTER_PORT fails every pair towards it, and a shaped node every pair it
is in; the peers of those pairs are healthy. Greedy vertex cover: take the node in the most
unexplained bad pairs, repeat. Ties are all taken, so a lone bad link blames both of its
ends (nothing in the data tells them apart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


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
