"""Per-node sections of the report, built from facts.json or from a run's own facts.

A run gives each node's records as its checks parsed them (`parsed`, from
`parsed_records`); from facts.json alone (`preflight report`), the GPU table, topology and
IB ports are parsed from the raw tool outputs with the same parsers the checks use
(preflight.facts). Only the
facts named here are shown. Anything else a probe gathered (environment variables above
all) stays out of the report, redacted or not.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.facts import NodeFacts
from preflight.gather import NodeOutcome
from preflight.results import SEVERITY, RunRecord, Status, severity
from preflight.verdict import Blocked, Unavailable

from .blame import counted_against, pair_blame
from .formatting import fmt_value, host_key, worst

GPU_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "#"),
    ("name", "Model"),
    ("bus_id", "Bus"),
    ("memory_used_mib", "Used MiB"),
    ("memory_total_mib", "Total MiB"),
    ("utilization_pct", "Util %"),
    ("temperature_c", "°C"),
    ("power_w", "W"),
    ("ecc_uncorrected_volatile", "ECC uncorr."),
    ("persistence_mode", "Persistence"),
    ("throttle_reasons", "Clock events"),
)
PARSED = ("gpus", "topo", "ib_ports")
IB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ca", "CA"),
    ("port", "Port"),
    ("state", "State"),
    ("physical_state", "Physical"),
    ("rate_gbps", "Rate Gb/s"),
    ("link_layer", "Link layer"),
)
IF_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("state", "State"),
    ("mtu", "MTU"),
    ("speed_mbps", "Speed Mb/s"),
    ("addresses", "Addresses"),
)
VERSION_KEYS = ("driver", "cuda", "nccl", "torch", "python")


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class TopoGrid:
    labels: list[str]
    rows: list[tuple[str, list[tuple[str, str]]]]  # (row label, [(link, css class)])
    legend: list[str]  # "NIC0 = mlx5_0"


@dataclass(frozen=True)
class NodeSection:
    anchor: str
    name: str
    ok: bool
    status: str  # worst result status on this node, "none" without results
    problems: int
    error: str
    summary: list[tuple[str, str]]  # hostname, os, kernel, versions
    gpus: Table | None
    topo: TopoGrid | None
    ib_ports: Table | None
    interfaces: Table | None
    notes: list[str]  # tool outputs that could not be read, e.g. a hung nvidia-smi


def node_sections(run: RunRecord, facts: Mapping[str, Any] | None,
                  only: Collection[str] | None = None) -> list[NodeSection]:
    """A section per node, or per node of `only` (their raw outputs are parsed again: at
    1,024 nodes parsing every node's was a third of the report's time)."""
    nodes = facts.get("nodes") if isinstance(facts, Mapping) else None
    if not isinstance(nodes, Mapping):
        return []
    names = sorted({*run.hosts, *map(str, nodes)}, key=host_key(run.hosts))
    shown = set(names if only is None else only)
    blame = pair_blame(run.results)
    statuses: dict[str, list[str]] = {name: [] for name in names}
    for index, result in enumerate(run.results):
        for node in counted_against(result, blame.get(index)):
            statuses.setdefault(node, []).append(result.status.value)
    return [_section(i, name, nodes.get(name), statuses[name])
            for i, name in enumerate(names) if name in shown]


def _section(index: int, name: str, entry: Any, statuses: list[str]) -> NodeSection:
    entry = entry if isinstance(entry, Mapping) else {}
    facts = entry.get("facts") if isinstance(entry.get("facts"), Mapping) else {}
    parsed = entry.get("parsed")  # a run's own records, parsed by its checks
    if not isinstance(parsed, Mapping):
        parsed = _parse(name, entry, facts)
    return NodeSection(
        anchor=f"node-{index}",
        name=name,
        ok=bool(entry.get("ok", False)),
        status=worst(statuses) or "none",
        problems=sum(severity(s) >= SEVERITY[Status.WARN] for s in statuses),
        error=_error_text(entry.get("error")) if entry else "no facts gathered",
        summary=_summary(facts, parsed["versions"]),
        gpus=_table(parsed["gpus"], GPU_COLUMNS),
        topo=topo_grid(parsed["topo"]),
        ib_ports=_table(parsed["ib_ports"], IB_COLUMNS),
        interfaces=_table(facts.get("interfaces"), IF_COLUMNS),
        notes=list(parsed["notes"]),
    )


def parsed_records(node: NodeFacts, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GPUs, topology, IB ports and versions of a node, and `notes`: the tool outputs that
    could not be read (a hung nvidia-smi). A record in `given` is taken as it is."""
    given = given or {}
    records: dict[str, Any] = {"notes": []}
    for key in PARSED:
        records[key] = given.get(key)
        if records[key] is None:
            try:
                records[key] = getattr(node, key)
            except Unavailable as exc:
                records["notes"].append(str(exc))
    probed = node.get("versions")
    records["versions"] = {**(probed if isinstance(probed, Mapping) else {}),
                           **{k: v for k, v in node.versions.items() if v is not None}}
    return records


def _parse(name: str, entry: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """The records from facts.json's raw tool outputs (`preflight report` on a run
    directory); a key already present in facts (a parsed record) is taken as it is."""
    unparsed: dict[str, Any] = {key: facts.get(key) for key in PARSED}
    versions = facts.get("versions")
    unparsed["versions"] = dict(versions) if isinstance(versions, Mapping) else {}
    unparsed["notes"] = []
    if not facts.get("tools"):
        return unparsed
    try:
        node = NodeFacts(NodeOutcome.from_dict(name, dict(entry)))
    except (Blocked, KeyError, TypeError, ValueError):
        return unparsed
    return parsed_records(node, facts)


def _error_text(error: Any) -> str:
    if not isinstance(error, Mapping):
        return ""
    kind, detail = error.get("kind"), error.get("detail")
    return ": ".join(str(p) for p in (kind, detail) if p)


def _summary(facts: Mapping[str, Any], versions: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, facts.get(key)) for key in ("hostname", "os", "kernel")]
    pairs += [(key, versions.get(key)) for key in VERSION_KEYS]
    return [(key, fmt_value(value)) for key, value in pairs if value not in (None, "")]


def _table(items: Any, columns: Sequence[tuple[str, str]]) -> Table | None:
    """Rows of `items`; a column no row has a value for is left out."""
    if not isinstance(items, list) or not items:
        return None
    records = [item for item in items if isinstance(item, Mapping)]
    shown = [(key, label) for key, label in columns
             if any(r.get(key) not in (None, "", []) for r in records)]
    return Table([label for _, label in shown],
                 [[fmt_value(r.get(key)) for key, _ in shown] for r in records])


def topo_grid(topo: Any) -> TopoGrid | None:
    """`nvidia-smi topo -m` as a grid: GPUs and NICs both ways, link type in each cell."""
    if not isinstance(topo, Mapping) or not isinstance(topo.get("links"), Mapping):
        return None
    links: Mapping[str, Any] = topo["links"]
    labels = sorted(
        {str(k) for k in links}
        | {str(k) for row in links.values() if isinstance(row, Mapping) for k in row},
        key=_device_key,
    )
    if not labels:
        return None
    rows = [(a, [_link(links, a, b) for b in labels]) for a in labels]
    names = topo.get("nic_names")
    legend = [f"{k} = {v}" for k, v in names.items()] if isinstance(names, Mapping) else []
    return TopoGrid(labels, rows, legend)


def _link(links: Mapping[str, Any], a: str, b: str) -> tuple[str, str]:
    if a == b:
        return ("X", "self")
    row, back = links.get(a), links.get(b)
    link = row.get(b) if isinstance(row, Mapping) else None
    if link is None and isinstance(back, Mapping):
        link = back.get(a)  # many probes store one triangle only
    text = str(link) if link is not None else ""
    return (text, link_class(text))


def link_class(link: str) -> str:
    """Near (NVLink) to far (across sockets): the classes colour the grid."""
    upper = link.upper()
    if upper.startswith("NV"):
        return "nv"
    if upper in ("PIX", "PXB"):
        return "pci-near"
    if upper in ("PHB", "NODE"):
        return "pci-mid"
    if upper == "SYS":
        return "pci-far"
    return "unknown"


def _device_key(label: str) -> tuple[str, int, str]:
    match = re.fullmatch(r"([A-Za-z_]+)(\d+)", label)
    if not match:
        return (label, -1, label)
    # GPUs before NICs, then numerically: GPU2 before GPU10.
    prefix = match.group(1)
    return ("0" if prefix == "GPU" else prefix, int(match.group(2)), label)
