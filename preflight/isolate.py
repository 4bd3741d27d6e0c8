"""Tell a bad node from a bad link, given which pairwise tests passed.

Rule: a node whose pairs with at least two different partners fail, and more than half
of whose tested pairs fail, is a suspect node. A failing pair where neither end is a
suspect is a bad link; one where an end is a suspect is explained by that node.
Suspects are then retested against nodes that passed everything (`retest_plan`), and
`confirm` either confirms them or turns their failing pairs back into links.

Pairs may be given unordered or directed: (a, b) and (b, a) are the same pair, and the
pair fails when either direction fails.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from preflight.schedule import Pair


@dataclass(frozen=True)
class NodeSuspicion:
    node: str
    failed: int  # failing pairs, one per partner
    tested: int  # partners tested
    partners_failed: list[str]
    retested_with: list[str] = field(default_factory=list)
    retests_failed: int = 0
    confirmed: bool = False


@dataclass(frozen=True)
class Isolation:
    suspect_nodes: list[NodeSuspicion]
    bad_links: list[Pair]
    notes: list[str]
    # nodes with no failing pair that a suspect does not explain: retest partners
    healthy: list[str] = field(default_factory=list)
    failure: str = "failed"  # how a failing pair reads: "4/4 pairs slow"


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key where node-9 comes before node-10; ties broken by the plain name."""
    parts = re.split(r"(\d+)", name)
    return (*(int(part) if i % 2 else part for i, part in enumerate(parts)), name)


def link(a: str, b: str) -> Pair:
    """The canonical unordered form of a pair: its two nodes in natural order."""
    return (a, b) if natural_key(a) <= natural_key(b) else (b, a)


def isolate(
    outcomes: Mapping[Pair, bool],
    values: Mapping[Pair, float] | None = None,
    *,
    failure: str = "failed",
    unit: str = "",
) -> Isolation:
    """Split failing pairs into suspect nodes and bad links (see module doc).

    `values` (optional, per pair or per direction) only feed notes comparing a
    suspect's measurements with those between the other nodes, in `unit`.
    """
    passed = _normalise(outcomes)
    partners, failed_partners = _partner_sets(passed)
    suspects = [
        _suspicion(node, partners[node], failed_partners[node])
        for node in _sorted_nodes(partners)
        if _is_suspect(len(partners[node]), len(failed_partners[node]))
    ]
    suspect_names = {s.node for s in suspects}
    bad_links = [p for p in _failing(passed) if not suspect_names.intersection(p)]
    notes = [
        *_one_way_notes(outcomes, bad_links),
        *_lone_partner_notes(bad_links, partners),
        *_cluster_wide_notes(len(suspects), len(partners)),
        *_value_notes(suspect_names, values or {}, unit),
    ]
    blamed = suspect_names.union(*bad_links)
    healthy = [node for node in _sorted_nodes(partners) if node not in blamed]
    return Isolation(suspects, bad_links, notes, healthy, failure)


def retest_plan(isolation: Isolation, healthy: Sequence[str], k: int = 2) -> list[Pair]:
    """Pairs (suspect, healthy node) retesting each suspect against up to k healthy nodes.

    Suspects start at different offsets in `healthy` so retests spread over them;
    `preflight.schedule.pack` turns the plan into rounds of disjoint pairs.
    """
    if k < 1:
        raise ValueError(f"retest partners per suspect must be at least 1, got {k}")
    suspect_names = {s.node for s in isolation.suspect_nodes}
    pool = [node for node in dict.fromkeys(healthy) if node not in suspect_names]
    if not pool:
        return []
    take = min(k, len(pool))
    plan: list[Pair] = []
    for index, suspect in enumerate(isolation.suspect_nodes):
        start = index * take
        plan.extend((suspect.node, pool[(start + i) % len(pool)]) for i in range(take))
    return plan


def confirm(isolation: Isolation, retest_outcomes: Mapping[Pair, bool]) -> Isolation:
    """Confirm suspects whose retests all fail; downgrade those whose retests all pass.

    A downgraded suspect's failing pairs become bad links unless the other end is
    still a suspect. Mixed or missing retests leave a suspect unconfirmed, with a note.
    """
    passed = _normalise(retest_outcomes)
    kept: list[NodeSuspicion] = []
    dropped: list[NodeSuspicion] = []
    notes = list(isolation.notes)
    for suspect in isolation.suspect_nodes:
        retested = _with_retests(suspect, passed)
        notes.extend(_retest_notes(retested))
        is_cleared = bool(retested.retested_with) and retested.retests_failed == 0
        (dropped if is_cleared else kept).append(retested)
    kept_names = {s.node for s in kept}
    freed = [
        link(s.node, partner)
        for s in dropped
        for partner in s.partners_failed
        if partner not in kept_names
    ]
    bad_links = sorted(set(isolation.bad_links) | set(freed), key=_pair_key)
    on_links = set().union(*freed)
    healthy = [node for node in isolation.healthy if node not in on_links]
    return Isolation(kept, bad_links, notes, healthy, isolation.failure)


def describe(isolation: Isolation) -> list[str]:
    """Human lines: one per suspect node, one per bad link, then the notes."""
    nodes = [_describe_suspect(s, isolation.failure) for s in isolation.suspect_nodes]
    links = [f"link {a}<->{b} only" for a, b in isolation.bad_links]
    return [*nodes, *links, *isolation.notes]


def _normalise(outcomes: Mapping[Pair, bool]) -> dict[Pair, bool]:
    passed: dict[Pair, bool] = {}
    for (a, b), ok in outcomes.items():
        if a == b:
            raise ValueError(f"a pair needs two different nodes, got {a}<->{b}")
        key = link(a, b)
        passed[key] = passed.get(key, True) and ok
    return dict(sorted(passed.items(), key=lambda item: _pair_key(item[0])))


def _partner_sets(passed: Mapping[Pair, bool]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    partners: dict[str, set[str]] = {}
    failed_partners: dict[str, set[str]] = {}
    for (a, b), ok in passed.items():
        for node, other in ((a, b), (b, a)):
            partners.setdefault(node, set()).add(other)
            failed = failed_partners.setdefault(node, set())
            if not ok:
                failed.add(other)
    return partners, failed_partners


def _is_suspect(tested: int, failed: int) -> bool:
    return failed >= 2 and 2 * failed > tested


def _suspicion(node: str, partners: set[str], failed: set[str]) -> NodeSuspicion:
    return NodeSuspicion(node, len(failed), len(partners), _sorted_nodes(failed))


def _failing(passed: Mapping[Pair, bool]) -> list[Pair]:
    return [pair for pair, ok in passed.items() if not ok]


def _sorted_nodes(nodes: Iterable[str]) -> list[str]:
    return sorted(nodes, key=natural_key)


def _pair_key(pair: Pair) -> tuple[tuple[object, ...], tuple[object, ...]]:
    return natural_key(pair[0]), natural_key(pair[1])


def _one_way_notes(outcomes: Mapping[Pair, bool], bad_links: Sequence[Pair]) -> list[str]:
    notes = []
    for a, b in bad_links:
        forward, backward = outcomes.get((a, b)), outcomes.get((b, a))
        if forward is not None and backward is not None and forward != backward:
            src, dst = (a, b) if not forward else (b, a)
            notes.append(f"link {src}->{dst} failed one way only ({dst}->{src} passed)")
    return notes


def _lone_partner_notes(bad_links: Sequence[Pair], partners: Mapping[str, set[str]]) -> list[str]:
    return [
        f"link {a}<->{b}: {node} was tested with no other node, so it may be the bad one"
        for a, b in bad_links
        for node in (a, b)
        if len(partners[node]) < 2
    ]


def _cluster_wide_notes(suspects: int, nodes: int) -> list[str]:
    if 2 * suspects <= nodes:
        return []
    return [
        f"{suspects} of {nodes} nodes look bad: suspect a cluster-wide cause "
        "(missing tool, firewall, configuration) before the nodes themselves"
    ]


def _value_notes(suspects: set[str], values: Mapping[Pair, float], unit: str) -> list[str]:
    elsewhere = [v for pair, v in values.items() if not suspects.intersection(pair)]
    notes = []
    for node in _sorted_nodes(suspects):
        own = [v for pair, v in values.items() if node in pair]
        if not own:
            continue
        note = f"{node}: median {_quantity(statistics.median(own), unit)} on its pairs"
        if elsewhere:
            note += f", {_quantity(statistics.median(elsewhere), unit)} between other nodes"
        notes.append(note)
    return notes


def _quantity(value: float, unit: str) -> str:
    number = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{number} {unit}" if unit else number


def _with_retests(suspect: NodeSuspicion, passed: Mapping[Pair, bool]) -> NodeSuspicion:
    results = {
        (b if a == suspect.node else a): ok
        for (a, b), ok in passed.items()
        if suspect.node in (a, b)
    }
    if not results:
        return suspect
    return replace(
        suspect,
        retested_with=_sorted_nodes(results),
        retests_failed=sum(not ok for ok in results.values()),
        confirmed=all(not ok for ok in results.values()),
    )


def _retest_notes(suspect: NodeSuspicion) -> list[str]:
    tried = len(suspect.retested_with)
    if not tried:
        return [f"{suspect.node} was not retested: still a suspect, not confirmed"]
    if suspect.retests_failed == 0:
        return [
            f"{suspect.node} passed retests against {', '.join(suspect.retested_with)}: "
            "its failing pairs are counted as links"
        ]
    if not suspect.confirmed:
        return [
            f"{suspect.node}: {suspect.retests_failed}/{tried} retests failed: "
            "still a suspect, not confirmed"
        ]
    return []


def _describe_suspect(suspect: NodeSuspicion, failure: str) -> str:
    detail = f"{suspect.failed}/{suspect.tested} pairs {failure}"
    tried = len(suspect.retested_with)
    if suspect.confirmed:
        healthy = "healthy node" if tried == 1 else "healthy nodes"
        return f"{suspect.node} ({detail}, retested against {tried} {healthy})"
    if tried:
        return f"{suspect.node} ({detail}, {suspect.retests_failed}/{tried} retests failed)"
    return f"{suspect.node} ({detail}, not retested)"
