"""`nvidia-smi -q` (full, `-d SECTION`, and hand-trimmed fragments with `[...]`).

The format is an indented tree of `Key : Value` lines and bare section titles:
    GPU 00000000:53:00.0
        ECC Errors
            Volatile
                DRAM Uncorrectable        : 0
Each line becomes (section path, key, value); GPUs start at `GPU <bus id>` lines.
-q prints no GPU index: GPUs are numbered in the order they appear, which is
nvidia-smi's index order for a full output but not for a fragment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from preflight.parsers.common import (
    ParseError,
    is_missing,
    leading_int,
    leading_number,
    yes_no,
)
from preflight.parsers.nvidia_smi_record import (
    GpuInfo,
    GpuProcess,
    NvidiaSmiRecord,
    RemappedRows,
    throttle_reason_name,
)

GPU_HEADER = re.compile(r"^GPU\s+(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s*$")
KEY_VALUE = re.compile(r"^\s*(?P<key>\S.*?)\s*:\s*(?P<value>.*)$")
LOG_BANNER = "==============NVSMI LOG=============="
THROTTLE_SECTIONS = ("clocks throttle reasons", "clocks event reasons")


class Entry(NamedTuple):
    """One `Key : Value` line (or bare title, value None) with its enclosing sections (a
    tuple, not a dataclass: ~1,600 of them a node, made in under half the time)."""

    path: tuple[str, ...]
    key: str
    value: str | None


def looks_like_q(text: str) -> bool:
    if LOG_BANNER in text:
        return True
    return any(GPU_HEADER.match(line) for line in text.splitlines()) and bool(
        re.search(r"^(Driver Version|Attached GPUs)\s+:", text, re.MULTILINE)
    )


def parse_q(text: str) -> NvidiaSmiRecord:
    header, blocks = _split_gpu_blocks(text.splitlines())
    if not blocks and "Attached GPUs" not in text:
        raise ParseError("nvidia-smi -q output without any 'GPU <bus id>' section")
    gpus = [_gpu(index, bus, entries) for index, (bus, entries) in enumerate(blocks)]
    processes = [p for index, (_, e) in enumerate(blocks) for p in _processes(index, e)]
    return NvidiaSmiRecord(
        source="q",
        gpus=tuple(gpus),
        processes=tuple(processes),
        driver_version=_header_value(header, "Driver Version"),
        cuda_version=_header_value(header, "CUDA Version"),
    )


def _header_value(lines: list[str], key: str) -> str | None:
    for line in lines:
        match = KEY_VALUE.match(line)
        if match and match.group("key") == key and not is_missing(match.group("value")):
            return match.group("value").strip()
    return None


def _split_gpu_blocks(lines: list[str]) -> tuple[list[str], list[tuple[str, list[Entry]]]]:
    """(lines before the first GPU, [(bus id, entries of that GPU)])."""
    header: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in lines:
        gpu = GPU_HEADER.match(line)
        if gpu:
            blocks.append((gpu.group("bus"), []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            header.append(line)
    return header, [(bus, list(_entries(body))) for bus, body in blocks]


def _entries(lines: list[str]) -> Iterable[Entry]:
    sections: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()  # the names in sections, kept as one tuple
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("[..") or stripped == "...":
            continue
        indent = len(line) - len(line.lstrip())
        if sections and sections[-1][0] >= indent:
            while sections and sections[-1][0] >= indent:
                sections.pop()
            path = path[:len(sections)]
        match = KEY_VALUE.match(line)
        if match:
            yield Entry(path, match.group("key"), match.group("value").strip())
        else:
            yield Entry(path, stripped, None)
            sections.append((indent, stripped))
            path = (*path, stripped)


Index = dict[tuple[str, ...], str | None]


def _index(entries: list[Entry]) -> Index:
    """(lower-cased sections..., key) -> value of its first occurrence."""
    index: Index = {}
    for entry in entries:
        index.setdefault(tuple(p.lower() for p in (*entry.path, entry.key)), entry.value)
    return index


def _find(index: Index, *path: str) -> str | None:
    """Value at exactly `path` (sections..., key), case-insensitive."""
    return index.get(tuple(p.lower() for p in path))


def _gpu(position: int, bus_id: str, entries: list[Entry]) -> GpuInfo:
    index = _index(entries)
    remapped = RemappedRows(
        correctable=leading_int(_find(index, "Remapped Rows", "Correctable Error")),
        uncorrectable=leading_int(_find(index, "Remapped Rows", "Uncorrectable Error")),
        pending=yes_no(_find(index, "Remapped Rows", "Pending")),
        failure=yes_no(_find(index, "Remapped Rows", "Remapping Failure Occurred")),
    )
    return GpuInfo(
        index=position,
        name=_text(_find(index, "Product Name")),
        bus_id=bus_id,
        uuid=_text(_find(index, "GPU UUID")),
        serial=_text(_find(index, "Serial Number")),
        memory_used_mib=leading_int(_find(index, "FB Memory Usage", "Used")),
        memory_total_mib=leading_int(_find(index, "FB Memory Usage", "Total")),
        utilization_pct=leading_int(_find(index, "Utilization", "Gpu")),
        persistence_mode=yes_no(_find(index, "Persistence Mode")),
        ecc_uncorrected_volatile=_ecc_count(index, "Volatile", corrected=False),
        ecc_corrected_volatile=_ecc_count(index, "Volatile", corrected=True),
        ecc_uncorrected_aggregate=_ecc_count(index, "Aggregate", corrected=False),
        ecc_corrected_aggregate=_ecc_count(index, "Aggregate", corrected=True),
        retired_pages_pending=_retired_pages_pending(entries),
        remapped_rows=remapped,
        throttle_reasons=_throttle_reasons(entries),
        temperature_c=leading_int(_find(index, "Temperature", "GPU Current Temp")),
        power_w=_power_draw(index),
    )


def _text(value: str | None) -> str | None:
    return None if is_missing(value) else value


def _ecc_count(index: Index, scope: str, *, corrected: bool) -> int | None:
    """Sum of one kind of ECC error under `ECC Errors/<scope>`.

    Ampere and newer print `SRAM/DRAM Correctable|Uncorrectable[ Parity|SEC-DED]`;
    Volta and older print `Single Bit` (corrected) / `Double Bit` (uncorrected) with a
    `Total` line each.
    """
    legacy = ("ecc errors", scope.lower(), "single bit" if corrected else "double bit", "total")
    counts = [
        leading_int(value)
        for path, value in index.items()
        if path == legacy
        or (path[:2] == legacy[:2] and len(path) == 3 and _counts(path[2], corrected))
    ]
    found = [count for count in counts if count is not None]
    return sum(found) if found else None


def _counts(key: str, corrected: bool) -> bool:
    """'dram correctable' counts as corrected, 'sram uncorrectable parity' as uncorrected."""
    return "correctable" in key and ("uncorrectable" in key) != corrected


def _retired_pages_pending(entries: list[Entry]) -> bool | None:
    for entry in entries:
        if entry.path[-1:] == ("Retired Pages",) and entry.key.startswith("Pending Page"):
            return yes_no(entry.value)
    return None


def _throttle_reasons(entries: list[Entry]) -> tuple[str, ...]:
    active = []
    for entry in entries:
        in_section = bool(entry.path) and entry.path[0].lower() in THROTTLE_SECTIONS
        if in_section and entry.value is not None and entry.value.strip() == "Active":
            active.append(throttle_reason_name(entry.key))
    return tuple(active)


def _power_draw(index: Index) -> float | None:
    for section in ("GPU Power Readings", "Power Readings"):
        for key in ("Power Draw", "Instantaneous Power Draw", "Average Power Draw"):
            value = leading_number(_find(index, section, key))
            if value is not None:
                return value
    return None


def _processes(gpu_index: int, entries: list[Entry]) -> list[GpuProcess]:
    """Processes are repeated `Process ID` / `Name` / `Used GPU Memory` groups."""
    processes: list[GpuProcess] = []
    current: dict[str, str | None] = {}
    for entry in entries:
        if not entry.path or entry.path[0] != "Processes":
            continue
        if entry.key == "Process ID":
            _flush(processes, current, gpu_index)
            current = {"pid": entry.value}
        elif entry.key in ("Name", "Process Name"):
            current["name"] = entry.value
        elif entry.key == "Used GPU Memory":
            current["used"] = entry.value
    _flush(processes, current, gpu_index)
    return processes


def _flush(processes: list[GpuProcess], current: dict[str, str | None], gpu: int) -> None:
    pid = leading_int(current.get("pid"))
    if pid is not None:
        name = current.get("name")
        used = leading_int(current.get("used"))
        processes.append(GpuProcess(gpu=gpu, pid=pid, name=name, used_mib=used))
