"""What the report shows for findings and, above AGGREGATE_ABOVE nodes, in place of the
per-pair grids, the passing results and the facts of healthy nodes: at 1,024 nodes those
would be a page of hundreds of megabytes (a grid has N² cells)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.findings import Finding

from .formatting import fmt_measure
from .terminal import node_list

AGGREGATE_ABOVE = 64
WORST_PAIRS = 5
PAIR_ROWS_MAX = 200
CARD_PAIRS_MAX = 64


@dataclass(frozen=True)
class FindingCard:
    id: str
    status: str
    check: str
    reason: str
    scope: str
    action: str
    count: int
    who: str  # the nodes as a Slurm hostlist
    nodes: list[str]
    pairs: list[str]
    measured: str
    expected: str
    hint: str


def finding_cards(findings: Sequence[Finding]) -> list[FindingCard]:
    return [FindingCard(
        id=f.id, status=f.status, check=f.check, reason=f.reason, scope=f.scope,
        action=f.action, count=f.count, who=node_list(f.nodes) if f.nodes else "cluster",
        nodes=list(f.nodes), pairs=[f"{a} → {b}" for a, b in f.pairs[:CARD_PAIRS_MAX]],
        measured=_text(f.measured, f.unit), expected=_text(f.expected, f.unit),
        hint=f.hint or "") for f in findings]


def _text(value: Any, unit: str | None) -> str:
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        return f"{fmt_measure(value['min'])}–{fmt_measure(value['max'], unit)}"
    return "" if value is None else fmt_measure(value, unit)


@dataclass(frozen=True)
class PairSummaryRow:
    node: str
    failed: int
    measured: int
    worst: list[str]  # "a → b: value"


@dataclass(frozen=True)
class PairSummary:
    name: str
    title: str
    unit: str
    nodes: int
    rows: list[PairSummaryRow]  # nodes with a failed pair, most failed first
    more: int  # nodes with failed pairs not listed


def pair_summaries(matrices: Mapping[str, Any]) -> list[PairSummary]:
    """Per node and matrix: how many of its pairs failed, and its worst pairs."""
    summaries = []
    for name, matrix in matrices.items():
        cells = matrix.get("cells") if isinstance(matrix, Mapping) else None
        if name == "suspects" or not isinstance(cells, list):
            continue
        summaries.append(_summary(name, matrix, cells))
    return summaries


def _summary(name: str, matrix: Mapping[str, Any], cells: list[Any]) -> PairSummary:
    measured: dict[str, int] = defaultdict(int)
    bad: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for cell in cells:
        for node in (cell.get("src"), cell.get("dst")):
            measured[str(node)] += 1
            if cell.get("status") not in ("pass", "skip", None):
                bad[str(node)].append(cell)
    numeric = matrix.get("kind") == "bandwidth"
    ranked = sorted(bad, key=lambda n: (-len(bad[n]), n))
    unit = str(matrix.get("unit") or "")
    rows = [PairSummaryRow(node, len(bad[node]), measured[node],
                           _worst(bad[node], numeric, unit)) for node in ranked[:PAIR_ROWS_MAX]]
    return PairSummary(name, str(matrix.get("title", name)), unit, len(measured), rows,
                       max(0, len(ranked) - PAIR_ROWS_MAX))


def _worst(cells: list[Mapping[str, Any]], numeric: bool, unit: str) -> list[str]:
    if numeric:
        cells = sorted(cells, key=_value_or_inf)
    return [f"{c.get('src')} → {c.get('dst')}: {fmt_measure(c.get('value'), unit or None)}"
            for c in cells[:WORST_PAIRS]]


def _value_or_inf(cell: Mapping[str, Any]) -> float:
    value = cell.get("value")
    return float(value) if isinstance(value, int | float) else float("inf")


def problem_nodes(findings: Iterable[Finding]) -> set[str]:
    return {n for f in findings for n in f.nodes}
