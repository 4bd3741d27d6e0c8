"""`nvidia-smi topo -m`: the GPU/NIC connection matrix, CPU/NUMA affinity, NIC legend.

The header names the device columns (GPU0.., NIC0.. or, before the NIC legend existed,
the HCA names such as mlx5_0) and then the affinity columns ('CPU Affinity',
'NUMA Affinity', 'GPU NUMA ID'). Cells are separated by tabs or runs of spaces and an
empty cell can appear before 'GPU NUMA ID', so rows are read as whitespace tokens: the
row name, one link per device column, then the affinity values in header order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from preflight.parsers.common import JsonRecord, ParseError, first_line, require_text

AFFINITY_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
GPU_COLUMN = re.compile(r"^GPU\d+$")
NIC_LEGEND_ENTRY = re.compile(r"^\s*(NIC\d+)\s*:\s*(\S+)\s*$")
SELF = "X"


@dataclass(frozen=True)
class TopoRecord(JsonRecord):
    gpus: int
    nics: int
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    nic_names: dict[str, str] = field(default_factory=dict)
    cpu_affinity: dict[str, str | None] = field(default_factory=dict)
    numa_affinity: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Header:
    devices: list[str]
    affinity_columns: list[str]


@dataclass
class _Matrix:
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    cpu: dict[str, str | None] = field(default_factory=dict)
    numa: dict[str, str | None] = field(default_factory=dict)


def parse(text: str) -> TopoRecord:
    lines = require_text(text, "nvidia-smi topo -m").splitlines()
    header_at = next((i for i, line in enumerate(lines) if _is_header(line)), None)
    if header_at is None:
        raise ParseError(f"not nvidia-smi topo -m output (first line: {first_line(text)!r})")
    header = _parse_header(lines[header_at])
    matrix = _read_rows(header, lines[header_at + 1 :])
    if not matrix.links:
        raise ParseError("nvidia-smi topo -m header without matrix rows")
    nics = [device for device in header.devices if not GPU_COLUMN.match(device)]
    return TopoRecord(
        gpus=len(header.devices) - len(nics),
        nics=len(nics),
        links=matrix.links,
        nic_names=_nic_names(lines, nics),
        cpu_affinity=matrix.cpu,
        numa_affinity=matrix.numa,
    )


def _read_rows(header: _Header, lines: list[str]) -> _Matrix:
    """Rows up to the first line that is not a device row (blank line before the legend)."""
    matrix = _Matrix()
    for line in lines:
        tokens = line.split()
        if not tokens or tokens[0] not in header.devices:
            break
        name, cells = tokens[0], tokens[1:]
        matrix.links[name] = _links(header.devices, cells, name)
        affinity = dict(zip(header.affinity_columns, cells[len(header.devices) :], strict=False))
        if GPU_COLUMN.match(name):
            matrix.cpu[name] = _value(affinity.get("CPU Affinity"))
            matrix.numa[name] = _value(affinity.get("NUMA Affinity"))
    return matrix


def _is_header(line: str) -> bool:
    """The header starts with the GPU0 column; the GPU0 row also starts with GPU0 but has X."""
    tokens = line.split()
    return bool(tokens) and tokens[0] == "GPU0" and SELF not in tokens


def _parse_header(line: str) -> _Header:
    text = line.strip()
    affinity = sorted((text.index(column), column) for column in AFFINITY_COLUMNS if column in text)
    devices_end = affinity[0][0] if affinity else len(text)
    return _Header(text[:devices_end].split(), [column for _, column in affinity])


def _links(devices: list[str], cells: list[str], row: str) -> dict[str, str]:
    return {
        device: cell
        for device, cell in zip(devices, cells, strict=False)
        if device != row and cell != SELF
    }


def _value(cell: str | None) -> str | None:
    return None if cell is None or cell == "N/A" else cell


def _nic_names(lines: list[str], nics: list[str]) -> dict[str, str]:
    legend = {}
    for line in lines:
        entry = NIC_LEGEND_ENTRY.match(line)
        if entry:
            legend[entry.group(1)] = entry.group(2)
    # Before the NIC legend existed, the columns were the HCA names themselves.
    return {nic: legend.get(nic, nic) for nic in nics}
