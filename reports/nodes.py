"""Per-node sections of the report, built from facts.json.

Only the facts named here are shown. Anything else a probe gathered (environment variables
above all) stays out of the report, redacted or not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.results import RunRecord

from .formatting import SEVERITY, fmt_value, host_key, worst

GPU_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "#"),
    ("name", "Model"),
    ("memory_used_mib", "Used MiB"),
    ("memory_total_mib", "Total MiB"),
    ("ecc_uncorrected_volatile", "ECC uncorr."),
    ("persistence_mode", "Persistence"),
)
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


def node_sections(run: RunRecord, facts: Mapping[str, Any] | None) -> list[NodeSection]:
    nodes = facts.get("nodes") if isinstance(facts, Mapping) else None
    if not isinstance(nodes, Mapping):
        return []
    names = sorted({*run.hosts, *map(str, nodes)}, key=host_key(run.hosts))
    return [_section(i, name, nodes.get(name), run) for i, name in enumerate(names)]


def _section(index: int, name: str, entry: Any, run: RunRecord) -> NodeSection:
    entry = entry if isinstance(entry, Mapping) else {}
    facts = entry.get("facts") if isinstance(entry.get("facts"), Mapping) else {}
    statuses = [r.status.value for r in run.results if name in r.nodes]
    status = worst(statuses) or "none"
    return NodeSection(
        anchor=f"node-{index}",
        name=name,
        ok=bool(entry.get("ok", False)),
        status=status,
        problems=sum(SEVERITY[s] >= SEVERITY["warn"] for s in statuses),
        error=_error_text(entry.get("error")) if entry else "no facts gathered",
        summary=_summary(facts),
        gpus=_table(facts.get("gpus"), GPU_COLUMNS, extras=True),
        topo=topo_grid(facts.get("topo")),
        ib_ports=_table(facts.get("ib_ports"), IB_COLUMNS),
        interfaces=_table(facts.get("interfaces"), IF_COLUMNS),
    )


def _error_text(error: Any) -> str:
    if not isinstance(error, Mapping):
        return ""
    kind, detail = error.get("kind"), error.get("detail")
    return ": ".join(str(p) for p in (kind, detail) if p)


def _summary(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, facts.get(key)) for key in ("hostname", "os", "kernel")]
    versions = facts.get("versions")
    if isinstance(versions, Mapping):
        pairs += [(key, versions.get(key)) for key in VERSION_KEYS]
    return [(key, fmt_value(value)) for key, value in pairs if value not in (None, "")]


def _table(items: Any, columns: Sequence[tuple[str, str]], *, extras: bool = False) -> Table | None:
    if not isinstance(items, list) or not items:
        return None
    records = [item for item in items if isinstance(item, Mapping)]
    keys = [key for key, _ in columns]
    headers = [label for _, label in columns]
    if extras:
        known = set(keys)
        more = sorted({k for r in records for k, v in r.items() if k not in known and _scalar(v)})
        keys += more
        headers += more
    return Table(headers, [[fmt_value(r.get(k)) for k in keys] for r in records])


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


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
