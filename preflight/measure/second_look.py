"""A second look before blaming: a pair that failed in a sampled or ring schedule is
retested with each end paired to a node that passed, so a bad node is told from a bad
partner (or a bad link) without measuring every pair.

For (src, dst) failing: src -> G1 and G2 -> dst, with G1, G2 nodes in no failing pair.
blame: "dst" when only G2 -> dst fails, "src" when only src -> G1 fails, "both" when
both do, "link" when both pass (only this pair is bad). The checks read the blame; the
first verdict stays what it was (measure records, checks judge).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

MAX_RETESTED = 256  # failing pairs given a second look; past this the problem is broad

Retest = Callable[[dict[str, list[str]]], dict[str, Any]]


def second_look(targets: dict[str, list[str]], pairs: dict[str, Any],
                failed: Callable[[Any], bool], retest: Retest) -> dict[str, Any]:
    """{"src|dst": {"src_with": [G1, verdict], "dst_with": [G2, verdict], "blame": ...}}
    for the failing pairs of a schedule that did not already take every pair."""
    nodes = list(targets)
    if sum(len(t) for t in targets.values()) >= len(nodes) * (len(nodes) - 1):
        return {}  # every pair was measured: the matrix itself tells node from link
    failing = [key for key, verdict in pairs.items() if failed(verdict)][:MAX_RETESTED]
    touched = {node for key in failing for node in key.split("|")}
    healthy = [n for n in nodes if n not in touched]
    if not failing or not healthy:
        return {}
    plan = _plan(failing, healthy)
    wanted: dict[str, list[str]] = {}
    for key, (g1, g2) in plan.items():
        src, dst = key.split("|")
        wanted.setdefault(src, []).append(g1)
        wanted.setdefault(g2, []).append(dst)
    again = retest({src: list(dict.fromkeys(dsts)) for src, dsts in wanted.items()})
    return {key: _judged(key, g1, g2, again, failed) for key, (g1, g2) in plan.items()}


def _plan(failing: list[str], healthy: list[str]) -> dict[str, tuple[str, str]]:
    """A healthy partner for each node failing as a source and for each failing as a
    target, taken in turn so no healthy node gets them all: one retest per node and
    direction, not per pair (a node that reaches nobody would otherwise be retested
    against a new partner for each of its pairs, one patient timeout after another)."""
    turn = itertools.cycle(healthy)
    partners: dict[tuple[str, str], str] = {}

    def partner(node: str, end: str) -> str:
        if (node, end) not in partners:
            partners[node, end] = next(turn)
        return partners[node, end]
    return {key: (partner(key.split("|")[0], "src"), partner(key.split("|")[1], "dst"))
            for key in failing}


def _judged(key: str, g1: str, g2: str, again: dict[str, Any],
            failed: Callable[[Any], bool]) -> dict[str, Any]:
    src, dst = key.split("|")
    src_verdict, dst_verdict = again.get(f"{src}|{g1}"), again.get(f"{g2}|{dst}")
    src_bad = src_verdict is not None and failed(src_verdict)
    dst_bad = dst_verdict is not None and failed(dst_verdict)
    if src_verdict is None or dst_verdict is None:
        blame = "unknown"
    else:
        blame = {(False, True): "dst", (True, False): "src", (True, True): "both"}.get(
            (src_bad, dst_bad), "link")
    return {"src_with": [g1, src_verdict], "dst_with": [g2, dst_verdict], "blame": blame}
