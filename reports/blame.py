"""Which ends of the bad pair results the report counts them against (preflight.blame)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from preflight.blame import blamed
from preflight.results import Result, Status

from .formatting import SEVERITY


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
