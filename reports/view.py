"""Turn a RunRecord into plain rows the template prints: results, failures, the node matrix.

Everything here is data; escaping is the template's job (autoescape), so nothing in this
module builds markup.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from preflight.results import Result, RunRecord, Status

from .formatting import SEVERITY, all_nodes, family_key, fmt_duration, fmt_value, host_key, subject

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
    count: int = 1


@dataclass(frozen=True)
class MatrixCell:
    node: str
    family: str
    status: str  # worst status, or "none" when the node has no result in the family
    title: str
    anchor: str


@dataclass(frozen=True)
class MatrixRow:
    node: str
    cells: list[MatrixCell]


def result_rows(run: RunRecord) -> list[ResultRow]:
    """Every result, worst first, then inventory order, then check name."""
    order = host_key(run.hosts)
    ranked = sorted(
        enumerate(run.results),
        key=lambda ir: (-SEVERITY[ir[1].status.value], order(ir[1].subject), ir[1].id),
    )
    return [_row(index, result) for index, result in ranked]


def _row(index: int, result: Result) -> ResultRow:
    return ResultRow(
        anchor=f"r{index}",
        status=result.status.value,
        node=result.pair[0] if result.pair else result.node or "",
        peer=result.pair[1] if result.pair else "",
        family=result.family,
        check=result.check,
        subject=subject(result),
        measured=fmt_value(result.measured, result.unit),
        expected=fmt_value(result.expected, result.unit),
        message=result.message,
        hint=result.hint or "",
        duration=fmt_duration(result.duration_s),
        seconds=result.duration_s,
        severity=SEVERITY[result.status.value],
    )


def listed_rows(rows: Sequence[ResultRow]) -> tuple[list[ResultRow], int]:
    """The rows the full table lists, and how many passing pair rows it leaves out."""
    passing_pairs = sum(1 for row in rows if row.peer and row.status == Status.PASS.value)
    if passing_pairs <= PASSING_PAIRS_LISTED_MAX:
        return list(rows), 0
    kept = [row for row in rows if not (row.peer and row.status == Status.PASS.value)]
    return kept, passing_pairs


def failures(rows: Sequence[ResultRow]) -> list[Failure]:
    """Fail, blocked, error and warn rows, worst first, blocked ones folded per node."""
    shown: list[Failure] = []
    blocked: dict[str, list[ResultRow]] = defaultdict(list)
    for row in rows:
        if row.status == Status.BLOCKED.value:
            blocked[row.node].append(row)
        elif row.status in (Status.FAIL.value, Status.ERROR.value, Status.WARN.value):
            shown.append(_failure(row))
    shown.extend(_blocked_failure(group) for group in blocked.values())
    return sorted(shown, key=lambda f: -SEVERITY[f.status])


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
    )


def _blocked_failure(group: list[ResultRow]) -> Failure:
    first = group[0]
    checks = "check" if len(group) == 1 else "checks"
    return Failure(
        status=first.status,
        node=first.node,
        peer="",
        family=first.family,
        title=f"{first.subject or 'cluster'} · blocked ({len(group)} {checks})",
        message=first.message,
        measured="",
        expected="",
        hint=first.hint,
        anchor=first.anchor,
        count=len(group),
    )


def families(run: RunRecord) -> list[str]:
    return sorted({r.family for r in run.results}, key=family_key)


def node_matrix(run: RunRecord, rows: Sequence[ResultRow]) -> list[MatrixRow]:
    """One row per node (plus one for cluster-wide results), one cell per family.

    A pair result counts on both of its nodes: the heatmaps and suspects narrow down which.
    """
    by_cell: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    for row in rows:  # rows are worst first, so each list's head is the cell's worst result
        for node in _row_nodes(row):
            by_cell[(node, row.family)].append(row)
    nodes = all_nodes(run.hosts, run.results)
    if any(not row.node for row in rows):
        nodes.append(CLUSTER_ROW)
    columns = families(run)
    return [
        MatrixRow(node, [_cell(node, fam, by_cell.get((node, fam), [])) for fam in columns])
        for node in nodes
    ]


def _row_nodes(row: ResultRow) -> tuple[str, ...]:
    if not row.node:
        return (CLUSTER_ROW,)
    return (row.node, row.peer) if row.peer else (row.node,)


def _cell(node: str, family: str, rows: list[ResultRow]) -> MatrixCell:
    if not rows:
        return MatrixCell(node, family, "none", f"{node} · {family}: no results", "")
    counts = ", ".join(f"{n} {s}" for s, n in Counter(r.status for r in rows).items())
    told = [r for r in rows if r.message]
    lines = [f"{node} · {family}: {counts}"]
    lines += [f"[{r.status}] {r.check}: {r.message}" for r in told[:TITLE_LINES]]
    if len(told) > TITLE_LINES:
        lines.append(f"… and {len(told) - TITLE_LINES} more")
    return MatrixCell(node, family, rows[0].status, "\n".join(lines), rows[0].anchor)


def node_filter_options(run: RunRecord) -> list[str]:
    return all_nodes(run.hosts, run.results)
