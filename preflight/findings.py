"""Findings: the results with a problem, grouped by (check, reason), each with its scope
and the action it calls for.

One check failing for one reason on 900 nodes is one finding, not 900 lines. Its scope:
- `cluster`: most nodes (>= CLUSTER_SHARE of them, or every node) share it: one setting
  to change everywhere, never a reason to exclude nodes;
- `nodes`: a minority of nodes (outliers to exclude). Bad pairs that share a node count
  against that node (preflight.blame), as do bandwidth isolation's suspects;
- `links`: bad pairs whose ends are otherwise fine.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from preflight.blame import blamed
from preflight.errors import UserError
from preflight.results import BAD_STATUSES, Result, Status

CLUSTER_SHARE = 0.5
PROBLEM = (Status.FAIL, Status.BLOCKED, Status.ERROR, Status.WARN)  # worst first
MAX_PAIRS = 256  # pairs listed per finding; every pair stays in the matrices
MAX_VALUES = 8
DEFAULT_MAX_EXCLUDE = "10%"
Pair = tuple[str, str]


@dataclass
class Finding:
    id: str
    check: str
    status: str
    reason: str
    scope: str  # cluster | nodes | links
    action: str  # fix-config | exclude | check-link | rerun
    nodes: list[str] = field(default_factory=list)
    pairs: list[list[str]] = field(default_factory=list)
    count: int = 0
    measured: Any = None
    expected: Any = None
    unit: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        values: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**values)


def reason_of(result: Result) -> str:
    """The result's reason code, or one derived from its check and status (never from
    the message, which names nodes and values)."""
    if result.reason:
        return result.reason
    if result.status is Status.BLOCKED:
        return "node-unreachable"
    return f"{result.check.replace('_', '-')}-{result.status.value}"


def group_key(result: Result) -> tuple[str, str]:
    # An unreachable node blocks every check: one finding, not one per check.
    check = "blocked" if result.status is Status.BLOCKED else result.check
    return check, reason_of(result)


def bad_pairs(result: Result) -> list[Pair]:
    return [p for _, pairs in reasoned_pairs(result) for p in pairs]


def reasoned_pairs(result: Result) -> list[tuple[str, list[Pair]]]:
    """(reason, bad pairs) of a pair result or a per-source result: a source may fail its
    targets for different reasons (filtered to some, refused by others)."""
    if result.pair:
        return [(reason_of(result), [result.pair])]
    if not result.targets or not result.node:
        return []
    return [(reason or reason_of(result), [(result.node, t) for t in targets])
            for reason, targets in result.targets.items()]


Entry = tuple[Result, list[Pair]]  # a result and the bad pairs it stands for in one group


def compute_findings(results: Sequence[Result], hosts: Sequence[str],
                     suspects: Iterable[str] = ()) -> list[Finding]:
    """Findings, worst first; sets each result's `finding` id (None when it has none)."""
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for result in results:
        result.finding = None
        if result.status not in PROBLEM:
            continue
        split = reasoned_pairs(result) if result.targets else []
        for reason, pairs in split:
            groups[(result.check, reason)].append((result, pairs))
        if not split:
            groups[group_key(result)].append((result, [result.pair] if result.pair else []))
    total = max(len(hosts), 1)
    known_bad = set(suspects)
    findings: list[Finding] = []
    for (check, reason), group in groups.items():
        findings += _group_findings(check, reason, group, total, known_bad)
    order = {h: i for i, h in enumerate(hosts)}
    rank = {s: i for i, s in enumerate(PROBLEM)}
    findings.sort(key=lambda f: (rank[Status(f.status)], -f.count, f.check, f.reason))
    for finding in findings:
        finding.nodes.sort(key=lambda n: (order.get(n, total), n))
    return findings


def _group_findings(check: str, reason: str, group: list[Entry], total: int,
                    known_bad: set[str]) -> list[Finding]:
    nodes = {r.node for r, pairs in group if r.node and not pairs}
    pairs = [p for _, own in group for p in own]
    outliers, links = split_pairs(pairs, known_bad)
    nodes |= outliers
    base = f"{check}:{reason}"
    node_part = [r for r, own in group if not own or not all(p in links for p in own)]
    link_part = [r for r, own in group if any(p in links for p in own)]
    found: list[Finding] = []
    if node_part:
        cluster_wide = not nodes or len(nodes) >= max(1, math.ceil(CLUSTER_SHARE * total))
        scope = "cluster" if cluster_wide else "nodes"
        node_pairs = [p for p in pairs if p not in links]
        found.append(_finding(base, check, reason, scope, node_part, nodes, node_pairs))
    if links:
        link_id = f"{base}:links" if node_part else base
        link_nodes = {n for p in links for n in p}
        found.append(_finding(link_id, check, reason, "links", link_part, link_nodes,
                              sorted(links)))
    return found


def split_pairs(pairs: Iterable[Pair], known_bad: set[str]) -> tuple[set[str], set[Pair]]:
    """(outlier nodes, link pairs): a node blamed for this check's bad pairs with two or
    more peers is an outlier; a pair none of them explains is explained by a known suspect
    at one of its ends (a node another check already blamed), else it is a link. The
    suspects come second: a node slow in iperf3 is no reason to blame it for a port that
    its peer filters from everyone."""
    pairs = {p for p in pairs if p[0] != p[1]}
    cover = blamed(pairs)
    peers: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if a in cover:
            peers[a].add(b)
        if b in cover:
            peers[b].add(a)
    outliers = {n for n, seen in peers.items() if len(seen) >= 2}
    unexplained = [p for p in pairs if not outliers & set(p)]
    outliers |= {n for p in unexplained for n in p if n in known_bad}
    links = {p for p in pairs if not outliers & set(p)}
    return outliers, links


def _finding(fid: str, check: str, reason: str, scope: str, group: list[Result],
             nodes: set[str], pairs: Sequence[Pair]) -> Finding:
    status = min((r.status for r in group), key=PROBLEM.index)
    # A per-source result stands in several findings; its values and hint are its main
    # reason's, so each finding takes them from the results whose own reason it is.
    own = [r for r in group if reason_of(r) == reason] or group
    for result in group:
        result.finding = fid if result.finding is None else result.finding
    return Finding(
        id=fid, check=check, status=status.value, reason=reason, scope=scope,
        action=action_for(scope, status),
        nodes=sorted(nodes), pairs=[list(p) for p in list(pairs)[:MAX_PAIRS]],
        count=len(pairs) if scope == "links" else max(len(nodes), 1),
        measured=summarize(r.measured for r in own),
        expected=summarize(r.expected for r in own),
        unit=_common([r.unit for r in own if r.unit]),
        hint=_common([r.hint for r in own if r.hint]),
    )


def action_for(scope: str, status: Status) -> str:
    if status is Status.ERROR:
        return "rerun"
    return {"cluster": "fix-config", "nodes": "exclude", "links": "check-link"}[scope]


def summarize(values: Iterable[Any]) -> Any:
    """One value, a {"min", "max"} range of numbers, or the distinct values seen."""
    seen = [v for v in values if v is not None]
    if not seen:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
        low, high = min(seen), max(seen)
        return low if low == high else {"min": low, "max": high}
    distinct: dict[str, Any] = {}
    for value in seen:
        distinct.setdefault(json.dumps(value, sort_keys=True, default=str), value)
        if len(distinct) > MAX_VALUES:
            break
    values_ = list(distinct.values())
    return values_[0] if len(values_) == 1 else values_[:MAX_VALUES]


def _common(hints: list[str]) -> str | None:
    return Counter(hints).most_common(1)[0][0] if hints else None


# The exclude list ---------------------------------------------------------------------


def nodes_to_exclude(findings: Iterable[Finding],
                     gate: Iterable[Status] = BAD_STATUSES) -> list[str]:
    """Nodes of the gating nodes-scope findings: outliers to take out. A cluster-scope
    problem is a setting to change, never a list of nodes to drain."""
    statuses = set(gate)
    seen: dict[str, None] = {}
    for finding in findings:
        if finding.scope == "nodes" and finding.status in statuses:
            seen.update(dict.fromkeys(finding.nodes))
    return list(seen)


def exclude_limit(text: str, total: int) -> int:
    """--max-exclude: a count ("8") or a share of the nodes ("10%"), at least one node."""
    value = text.strip()
    try:
        if value.endswith("%"):
            share = float(value[:-1])
            if not 0 <= share <= 100:
                raise ValueError(value)
            return max(1, math.ceil(share / 100 * total))
        count = int(value)
        if count < 0:
            raise ValueError(value)
        return count
    except ValueError:
        raise UserError(f"--max-exclude {text!r}: give a count (8) or a percentage "
                        "(10%)") from None
