"""The default `nvidia-smi` table: narrow (<= 525) and wide (>= 530, 590's '+---' rules).

Each GPU is a block of `|`-separated rows under the `|====|` rule:
    |   0  NVIDIA H100 80GB HBM3          On  |   00000000:19:00.0 Off |                    0 |
    | N/A   27C    P0             72W /  700W |       1MiB /  81559MiB |      0%      Default |
The GPU table ends at the first blank line; the processes table follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from preflight.parsers.common import ParseError, leading_int
from preflight.parsers.nvidia_smi_record import GpuInfo, GpuProcess, NvidiaSmiRecord

# Drivers before 410 print no 'CUDA Version' field.
VERSIONS = re.compile(
    r"NVIDIA-SMI\s+\S+\s+Driver Version:\s*(?P<driver>[^\s|]+)"
    r"(?:\s+CUDA Version:\s*(?P<cuda>[\w.]+))?"
)
GPU_NAME_CELL = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>.+?)\s+(?P<pm>On|Off|WDDM|TCC|N/A)\s*$")
TEMPERATURE = re.compile(r"(\d+)C\b")
POWER_DRAW = re.compile(r"(\d+(?:\.\d+)?)W\s*/")
MEMORY = re.compile(r"(\d+)MiB\s*/\s*(\d+)MiB")
UTILIZATION = re.compile(r"(\d+)%")
PROCESS_ROW = re.compile(
    r"^\|\s+(?P<gpu>\d+|N/A)\s+(?:\S+\s+\S+\s+)?(?P<pid>\d+)\s+(?P<type>[CGM+]+)\s+"
    r"(?P<name>.+?)\s+(?P<mem>\d+MiB|N/A)\s*\|$"
)


def looks_like_table(text: str) -> bool:
    return "NVIDIA-SMI" in text and "Driver Version:" in text and "|" in text


def parse_table(text: str) -> NvidiaSmiRecord:
    versions = VERSIONS.search(text)
    if versions is None:
        raise ParseError("nvidia-smi table without its 'NVIDIA-SMI ... Driver Version' header")
    lines = text.splitlines()
    gpu_lines, rest = _split_gpu_table(lines)
    cuda = versions.group("cuda") or "N/A"
    return NvidiaSmiRecord(
        source="table",
        gpus=tuple(_parse_gpu_rows(gpu_lines)),
        processes=tuple(_parse_processes(rest)),
        driver_version=versions.group("driver"),
        cuda_version=None if cuda == "N/A" else cuda,
    )


def _split_gpu_table(lines: list[str]) -> tuple[list[str], list[str]]:
    """(rows of the GPU table, lines after it)."""
    start = next((i for i, line in enumerate(lines) if line.startswith("|=")), None)
    if start is None:
        raise ParseError("nvidia-smi table without its '|====|' header rule")
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return lines[start + 1 : end], lines[end:]


@dataclass
class _GpuRows:
    """The first two rows of one GPU block, as cells."""

    name_cells: list[str]
    usage_cells: list[str] = field(default_factory=list)


def _parse_gpu_rows(lines: list[str]) -> list[GpuInfo]:
    blocks: list[_GpuRows] = []
    for line in lines:
        cells = line.strip().strip("|").split("|")
        if len(cells) < 3:
            continue
        if GPU_NAME_CELL.match(cells[0]):
            blocks.append(_GpuRows(cells))
        elif blocks and not blocks[-1].usage_cells and MEMORY.search(cells[1]):
            blocks[-1].usage_cells = cells
    return [_gpu_from_rows(block) for block in blocks]


def _gpu_from_rows(rows: _GpuRows) -> GpuInfo:
    name = GPU_NAME_CELL.match(rows.name_cells[0])
    assert name is not None
    persistence = {"On": True, "Off": False}.get(name.group("pm"))
    bus = rows.name_cells[1].split()
    gpu = GpuInfo(
        index=int(name.group("index")),
        name=name.group("name"),
        bus_id=bus[0] if bus else None,
        persistence_mode=persistence,
        ecc_uncorrected_volatile=leading_int(rows.name_cells[2]),
    )
    if not rows.usage_cells:
        return gpu
    return _with_usage(gpu, rows.usage_cells)


def _with_usage(gpu: GpuInfo, cells: list[str]) -> GpuInfo:
    temperature = TEMPERATURE.search(cells[0])
    power = POWER_DRAW.search(cells[0])
    memory = MEMORY.search(cells[1])
    utilization = UTILIZATION.search(cells[2])
    return replace(
        gpu,
        temperature_c=int(temperature.group(1)) if temperature else None,
        power_w=float(power.group(1)) if power else None,
        memory_used_mib=int(memory.group(1)) if memory else None,
        memory_total_mib=int(memory.group(2)) if memory else None,
        utilization_pct=int(utilization.group(1)) if utilization else None,
    )


def _parse_processes(lines: list[str]) -> list[GpuProcess]:
    header = next((i for i, line in enumerate(lines) if "Processes:" in line), None)
    if header is None:
        return []
    processes = []
    for line in lines[header + 1 :]:
        row = PROCESS_ROW.match(line.strip())
        if row is None:
            continue
        processes.append(
            GpuProcess(
                gpu=leading_int(row.group("gpu")),
                pid=int(row.group("pid")),
                name=row.group("name"),
                used_mib=leading_int(row.group("mem")),
            )
        )
    return processes
