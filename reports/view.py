"""Turn a RunRecord into plain rows the template prints: results, failures, the node matrix.

Everything here is data; escaping is the template's job (autoescape), so nothing in this
module builds markup.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from preflight.results import SEVERITY, Result, RunRecord, Status, severity

from .blame import counted_against, pair_blame
from .formatting import (
    all_nodes,
    family_key,
    fmt_duration,
    fmt_measure,
    host_key,
    subject,
)

CLUSTER_ROW = "(cluster)"
TITLE_LINES = 8  # messages in a matrix cell's hover text
# Above this many passing pair results (a full mesh of ~25 nodes) the table lists none of
# them: the heatmaps show every pair, and a 256-node mesh would otherwise make a 46 MB page.
PASSING_PAIRS_LISTED_MAX = 600


@dataclass(frozen=True)
class ResultRow:
    anchor: str
    status: str
    node: str  # the node, or a pair's source; "" for cluster-wide results
    peer: str  # a pair's destination, else ""
    family: str
    check: str
    subject: str
    measured: str
    expected: str
    message: str
    hint: str
    duration: str
    seconds: float
    severity: int
    blame: tuple[str, ...]  # the nodes this result counts against (a bad pair: the blamed end)

    @property
    def involved(self) -> tuple[str, ...]:
        return tuple(n for n in (self.node, self.peer) if n)


@dataclass(frozen=True)
class Failure:
    """One entry of the "failures first" list; a blocked node is one entry, not one per check."""

    status: str
    node: str
    peer: str
    family: str
    title: str
    message: str
    measured: str
    expected: str
    hint: str
    anchor: str
    nodes: tuple[str, ...]  # every node the entry concerns, for the node filter
    count: int = 1
    pairs: tuple[str, ...] = ()  # the pairs of a folded pair failure


@dataclass(frozen=True)
class MatrixCell:
    node: str
    family: str
    status: str  # worst status, or "none" when the node has no result in the family
    title: str
    anchor: str
    peer_bad: int = 0  # bad pairs with this node that are blamed on their other end


@dataclass(frozen=True)
class MatrixRow:
    node: str
    cells: list[MatrixCell]


def result_rows(run: RunRecord) -> list[ResultRow]:
    """Every result, worst first, then inventory order, then check name."""
    order = host_key(run.hosts)
    ranked = sorted(
        enumerate(run.results),
        key=lambda ir: (-SEVERITY[ir[1].status], order(ir[1].subject), ir[1].id),
    )
    blame = pair_blame(run.results)
    return [_row(index, result, blame.get(index)) for index, result in ranked]


def _row(index: int, result: Result, blame: tuple[str, ...] | None) -> ResultRow:
    return ResultRow(
        anchor=f"r{index}",
        status=result.status.value,
        node=result.pair[0] if result.pair else result.node or "",
        peer=result.pair[1] if result.pair else "",
        family=result.family,
        check=result.check,
        subject=subject(result),
        measured=fmt_measure(result.measured, result.unit),
        expected=fmt_measure(result.expected, result.unit),
        message=result.message,
        hint=result.hint or "",
        duration=fmt_duration(result.duration_s),
        seconds=result.duration_s,
        severity=SEVERITY[result.status],
        blame=counted_against(result, blame),
    )


def listed_rows(rows: Sequence[ResultRow], *,
                problems_only: bool = False) -> tuple[list[ResultRow], int]:
    """The rows the full table lists, and how many passing rows it leaves out: passing pair
    rows past PASSING_PAIRS_LISTED_MAX, every passing or skipped row with problems_only."""
    if problems_only:
        kept = [row for row in rows if row.severity >= SEVERITY[Status.WARN]]
        return kept, len(rows) - len(kept)
    passing_pairs = sum(1 for row in rows if row.peer and row.status == Status.PASS.value)
    if passing_pairs <= PASSING_PAIRS_LISTED_MAX:
        return list(rows), 0
    kept = [row for row in rows if not (row.peer and row.status == Status.PASS.value)]
    return kept, passing_pairs


def failures(rows: Sequence[ResultRow]) -> list[Failure]:
    """Fail, blocked, error and warn rows, worst first.

    Blocked rows fold into one entry per unreachable node, and the bad pairs of one check
    (pair results, or per-source results whose targets are blamed) that blame the same
    node(s) into one entry: a node dropping a port is one entry, not one per peer.
    """
    shown: list[Failure] = []
    blocked: dict[str, list[ResultRow]] = defaultdict(list)
    pairs: dict[tuple[str, str, tuple[str, ...]], list[ResultRow]] = defaultdict(list)
    for row in rows:
        if row.status == Status.BLOCKED.value:
            blocked[(row.blame or (row.node,))[0]].append(row)
        elif row.status in (Status.FAIL.value, Status.ERROR.value, Status.WARN.value):
            if row.peer or row.blame != row.involved:  # a pair, or a source blaming peers
                pairs[(row.check, row.status, row.blame)].append(row)
            else:
                shown.append(_failure(row))
    shown.extend(_pair_failure(group) for group in pairs.values())
    shown.extend(_blocked_failure(node, group) for node, group in blocked.items())
    return sorted(shown, key=lambda f: -severity(f.status))


def _failure(row: ResultRow) -> Failure:
    return Failure(
        status=row.status,
        node=row.node,
        peer=row.peer,
        family=row.family,
        title=f"{row.subject} · {row.family}/{row.check}",
        message=row.message,
        measured=row.measured,
        expected=row.expected,
        hint=row.hint,
        anchor=row.anchor,
        nodes=row.involved,
    )


def _pair_failure(group: list[ResultRow]) -> Failure:
    first = group[0]
    if len(group) == 1:
        return _failure(first)
    blamed = first.blame or first.involved
    return replace(
        _failure(first),
        node=blamed[0],
        peer="",
        title=f"{', '.join(blamed)} · {first.family}/{first.check} · {len(group)} pairs",
        nodes=tuple(dict.fromkeys(n for row in group for n in row.involved)),
        count=len(group),
        pairs=tuple(row.subject for row in group),
    )


def _blocked_failure(node: str, group: list[ResultRow]) -> Failure:
    first = group[0]
    checks = "check" if len(group) == 1 else "checks"
    return Failure(
        status=first.status,
        node=node,
        peer="",
        family=first.family,
        title=f"{node or 'cluster'} · blocked ({len(group)} {checks})",
        message=first.message,
        measured="",
        expected="",
        hint=first.hint,
        anchor=first.anchor,
        nodes=(node,) if node else (),
        count=len(group),
    )


def families(run: RunRecord) -> list[str]:
    return sorted({r.family for r in run.results}, key=family_key)


def node_matrix(run: RunRecord, rows: Sequence[ResultRow]) -> list[MatrixRow]:
    """One row per node (plus one for cluster-wide results), one cell per family.

    A pair result counts on both of its nodes, except a bad one: it counts only on the end
    its check's failures blame (reports.blame), so a node that drops a port is the one red
    cell, and its healthy peers only carry a mark.
    """
    own: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    peer: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    for row in rows:  # rows are worst first, so each list's head is the cell's worst result
        if not row.node:
            own[(CLUSTER_ROW, row.family)].append(row)
            continue
        for node in dict.fromkeys((*row.involved, *row.blame)):
            (own if node in row.blame else peer)[(node, row.family)].append(row)
    nodes = all_nodes(run.hosts, run.results)
    if any(not row.node for row in rows):
        nodes.append(CLUSTER_ROW)
    columns = families(run)
    matrix = [
        MatrixRow(node, [_cell(node, fam, own[(node, fam)], peer[(node, fam)])
                         for fam in columns])
        for node in nodes
    ]
    return sorted(matrix, key=lambda row: not _has_problem(row))  # stable: inventory order


def _has_problem(row: MatrixRow) -> bool:
    return any(severity(c.status) >= SEVERITY[Status.WARN] for c in row.cells)


def _cell(node: str, family: str, rows: list[ResultRow], peers: list[ResultRow]) -> MatrixCell:
    if not rows and not peers:
        return MatrixCell(node, family, "none", f"{node} · {family}: no results", "")
    counts = ", ".join(f"{n} {s}" for s, n in Counter(r.status for r in rows).items())
    told = [r for r in rows if r.message]
    lines = [f"{node} · {family}: {counts or 'no results of its own'}"]
    lines += [f"[{r.status}] {r.check}: {r.message}" for r in told[:TITLE_LINES]]
    if len(told) > TITLE_LINES:
        lines.append(f"… and {len(told) - TITLE_LINES} more")
    if peers:
        blamed = ", ".join(dict.fromkeys(n for r in peers for n in r.blame))
        lines.append(f"{len(peers)} bad pair(s) with this node, blamed on {blamed}")
    head = rows[0] if rows else peers[0]
    status = rows[0].status if rows else "none"
    return MatrixCell(node, family, status, "\n".join(lines), head.anchor, len(peers))


def pair_suspects(run: RunRecord, rows: Sequence[ResultRow]) -> list[tuple[str, list[str]]]:
    """Nodes that failing or erroring pairs blame, with the families they fail in.

    Blocked pairs are left out: their unreachable node is already named on its own.
    """
    found: dict[str, dict[str, None]] = defaultdict(dict)
    for row in rows:
        if row.peer and row.status in (Status.FAIL.value, Status.ERROR.value):
            for node in row.blame:
                found[node][row.family] = None
    order = host_key(run.hosts)
    return [(node, list(found[node])) for node in sorted(found, key=order)]


def node_filter_options(run: RunRecord) -> list[str]:
    return all_nodes(run.hosts, run.results)
