"""Which ends of the bad pair results the report counts them against (preflight.blame)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from preflight.blame import blamed
from preflight.findings import bad_pairs
from preflight.results import SEVERITY, Result, Status


def pair_blame(results: Sequence[Result]) -> dict[int, tuple[str, ...]]:
    """For each bad pair result, or per-source result with targets (by index): the nodes of
    its pairs that its check's cover blames."""
    bad: dict[str, dict[int, list[tuple[str, str]]]] = defaultdict(dict)
    for index, result in enumerate(results):
        pairs = bad_pairs(result)
        if pairs and SEVERITY[result.status] >= SEVERITY[Status.WARN]:
            bad[result.check][index] = pairs
    blame: dict[int, tuple[str, ...]] = {}
    for by_index in bad.values():
        cover = blamed(p for pairs in by_index.values() for p in pairs)
        blame.update({i: tuple(dict.fromkeys(n for p in pairs for n in p if n in cover))
                      for i, pairs in by_index.items()})
    return blame


def counted_against(result: Result, blame: tuple[str, ...] | None) -> tuple[str, ...]:
    """The nodes a result counts against: a bad pair only its blamed ends, else all it names."""
    return blame if blame is not None else result.nodes
