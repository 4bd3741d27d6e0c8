"""Pairwise matrices (results.json `matrices`) as src × dst grids with a colour per cell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.blame import blamed
from preflight.results import severity

from .formatting import fmt_value, host_key

# Light enough that black text stays readable on every colour.
STATUS_COLOURS: dict[str, str] = {
    "pass": "#c9ecd2",
    "warn": "#ffe5a3",
    "fail": "#ffb4b4",
    "error": "#e3cdf5",
    "blocked": "#c9ccd1",
    "skip": "#eceef1",
}
VALUE_COLOURS: dict[str, str] = {
    "ok": STATUS_COLOURS["pass"],
    "open": STATUS_COLOURS["pass"],
    "refused": "#ffd2a1",
    "filtered": STATUS_COLOURS["fail"],
    "timeout": STATUS_COLOURS["fail"],
    "no-route": "#f08c8c",
    "denied": STATUS_COLOURS["error"],
}
UNKNOWN_COLOUR = "#eceef1"


@dataclass(frozen=True)
class HeatCell:
    src: str
    dst: str
    text: str
    status: str  # "self" on the diagonal, "none" where nothing was measured
    colour: str
    title: str


@dataclass(frozen=True)
class Heatmap:
    name: str
    title: str
    kind: str
    unit: str
    nodes: list[str]
    rows: list[tuple[str, list[HeatCell]]]
    legend: list[tuple[str, str]]  # (label, colour)
    marked: frozenset[str]  # the nodes its bad cells blame (and, for bandwidth, the suspects)
    bad: int  # how many of its cells are warn or worse


def heatmaps(matrices: Mapping[str, Any], hosts: Sequence[str]) -> list[Heatmap]:
    """Every well-formed matrix; `suspects` and anything without cells are not heatmaps."""
    isolated = suspects(matrices)["nodes"]
    maps = [
        _heatmap(name, matrix, hosts, isolated)
        for name, matrix in matrices.items()
        if name != "suspects" and isinstance(matrix, Mapping) and _cells(matrix)
    ]
    return sorted(maps, key=lambda m: not m.bad)  # the ones with bad pairs first


def _cells(matrix: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    cells = matrix.get("cells")
    if not isinstance(cells, list):
        return []
    return [c for c in cells if isinstance(c, Mapping) and "src" in c and "dst" in c]


def _heatmap(
    name: str, matrix: Mapping[str, Any], hosts: Sequence[str], suspect_nodes: Sequence[str]
) -> Heatmap:
    cells = {(str(c["src"]), str(c["dst"])): c for c in _cells(matrix)}
    nodes = [str(n) for n in matrix.get("nodes") or []]
    nodes += sorted({n for pair in cells for n in pair} - set(nodes), key=host_key(hosts))
    kind = str(matrix.get("kind") or "reachability")
    unit = str(matrix.get("unit") or "")
    peak = _peak(cells.values()) if kind == "bandwidth" else 0.0
    rows = [
        (src, [_cell(src, dst, cells.get((src, dst)), unit, peak) for dst in nodes])
        for src in nodes
    ]
    legend = _bandwidth_legend(peak, unit) if kind == "bandwidth" else _value_legend(cells)
    # Isolation retested the bandwidth suspects: trust it where this matrix has bad pairs
    # with them (it merges iperf3 and ib_write_bw), and cover only what it leaves.
    bad = [pair for pair, cell in cells.items() if _bad(cell)]
    known = {n for n in suspect_nodes if any(n in pair for pair in bad)}
    if kind != "bandwidth":
        known.clear()
    marked = known | blamed(pair for pair in bad if not known & set(pair))
    title = str(matrix.get("title") or name)
    bad_cells = sum(1 for cell in cells.values() if _bad(cell))
    return Heatmap(name, title, kind, unit, nodes, rows, legend, frozenset(marked), bad_cells)


def _bad(cell: Mapping[str, Any]) -> bool:
    return severity(str(cell.get("status"))) >= severity("warn")


def _peak(cells: Any) -> float:
    values = [_number(c.get("value")) for c in cells]
    return max((v for v in values if v is not None), default=0.0)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _cell(src: str, dst: str, cell: Mapping[str, Any] | None, unit: str, peak: float) -> HeatCell:
    if src == dst:
        return HeatCell(src, dst, "", "self", "", f"{src} (itself)")
    if cell is None:
        return HeatCell(src, dst, "·", "none", "", f"{src} → {dst}: not measured")
    value = cell.get("value")
    status = str(cell.get("status") or "none")
    number = _number(value)
    if number is not None:
        colour = bandwidth_colour(number, peak)
        text = fmt_value(number)
    else:
        colour = VALUE_COLOURS.get(str(value), STATUS_COLOURS.get(status, UNKNOWN_COLOUR))
        text = fmt_value(value)
    title = f"{src} → {dst}: {fmt_value(value, unit if number is not None else None)} ({status})"
    return HeatCell(src, dst, text, status, colour, title)


def bandwidth_colour(value: float, peak: float) -> str:
    """Red at 0, through amber, to green at the best pair: relative, so any fabric reads."""
    ratio = max(0.0, min(1.0, value / peak)) if peak > 0 else 0.0
    return f"hsl({round(120 * ratio)}, 70%, 80%)"


def _bandwidth_legend(peak: float, unit: str) -> list[tuple[str, str]]:
    steps = (0.0, 0.5, 0.75, 1.0)
    return [(f"{fmt_value(peak * s)} {unit}".strip(), bandwidth_colour(s, 1.0)) for s in steps]


def _value_legend(cells: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for cell in cells.values():
        label = fmt_value(cell.get("value"))
        status = str(cell.get("status") or "")
        seen.setdefault(label, VALUE_COLOURS.get(label, STATUS_COLOURS.get(status, UNKNOWN_COLOUR)))
    return sorted(seen.items())


def suspects(matrices: Mapping[str, Any]) -> dict[str, list[str]]:
    """The isolation verdict as lists of strings: nodes, links ("a ↔ b") and notes."""
    raw = matrices.get("suspects")
    if not isinstance(raw, Mapping):
        return {"nodes": [], "links": [], "notes": []}
    links = [" ↔ ".join(str(n) for n in link) for link in raw.get("links") or []]
    return {
        "nodes": [str(n) for n in raw.get("nodes") or []],
        "links": links,
        "notes": [str(n) for n in raw.get("notes") or []],
    }
