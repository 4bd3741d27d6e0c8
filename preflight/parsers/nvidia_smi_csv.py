"""`nvidia-smi --query-gpu=FIELDS --format=csv[,noheader][,nounits]`.

With a header the field names come from it (`memory.total [MiB]` -> `memory.total`);
with `noheader` the caller passes the field list it asked for, or, without one, the columns
whose values say what they are (GPU name, UUID, PCI bus id) are read, one GPU per row, and
every other field stays null. Values may carry units
('81559 MiB', '0 %', '69.85 W') unless `nounits`; '[N/A]', '[Not Supported]' and
'[Requested functionality has been deprecated]' mean no value.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping

from preflight.parsers.common import (
    ParseError,
    is_missing,
    leading_int,
    leading_number,
    require_text,
    yes_no,
)
from preflight.parsers.nvidia_smi_record import (
    GpuInfo,
    NvidiaSmiRecord,
    RemappedRows,
    throttle_reason_name,
)

FIELD_NAME = re.compile(r"^[A-Za-z_][\w.]*(?: \[[^\]]+\])?$")
UNIT_SUFFIX = re.compile(r"\s*\[[^\]]*\]$")
# The aliases `nvidia-smi --help-query-gpu` lists, mapped to the names its header prints.
ALIASES = {
    "gpu_name": "name",
    "gpu_serial": "serial",
    "gpu_uuid": "uuid",
    "gpu_bus_id": "pci.bus_id",
}
# The first part of the dotted --query-gpu fields (`nvidia-smi --help-query-gpu`).
QUERY_GROUPS = frozenset({
    "clocks", "clocks_event_reasons", "clocks_throttle_reasons", "memory", "power",
    "temperature", "utilization", "ecc", "pcie", "fan", "encoder", "inforom", "mig",
    "retired_pages", "remapped_rows", "driver_model", "gom", "accounting", "compute_cap",
    "enforced", "fabric", "gpu_operation_mode", "module", "protected_memory", "reset_status",
})
REASON_PREFIXES = ("clocks_event_reasons.", "clocks_throttle_reasons.")
NOT_A_REASON = {"supported", "active"}
KNOWN_FIELDS = frozenset(
    {
        "index", "name", "serial", "uuid", "pci.bus_id", "driver_version", "memory.used",
        "memory.total", "utilization.gpu", "persistence_mode", "temperature.gpu", "power.draw",
        "ecc.errors.uncorrected.volatile.total", "ecc.errors.corrected.volatile.total",
        "ecc.errors.uncorrected.aggregate.total", "ecc.errors.corrected.aggregate.total",
        "retired_pages.pending", "remapped_rows.correctable", "remapped_rows.uncorrectable",
        "remapped_rows.pending", "remapped_rows.failure", "count", "timestamp",
    }
)  # fmt: skip


# noheader columns that can be told by their values alone (every row must match).
# A GPU name: a brand word, then up to five words, one with a digit ("NVIDIA H100 80GB HBM3",
# "Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 3090"); prose like "NVIDIA-SMI has failed
# because ..." is not one.
RECOGNISABLE = {
    "name": re.compile(r"^(?:NVIDIA|Tesla|Quadro|GeForce|TITAN|GRID)(?= )"
                       r"(?=.*\d)(?: [\w-]+){1,5}$"),
    "uuid": re.compile(r"^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}$"),
    "pci.bus_id": re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$"),
}


def canonical_field(name: str) -> str:
    """'memory.total [MiB]' -> 'memory.total'; 'gpu_name' -> 'name'."""
    bare = UNIT_SUFFIX.sub("", name.strip())
    return ALIASES.get(bare, bare)


def is_header(cells: list[str]) -> bool:
    """A header line: every cell a field name, one of them known or of a known query group
    (`clocks.current.sm [MHz]`: fields we do not read still name nvidia-smi's columns)."""
    names = [canonical_field(cell) for cell in cells]
    return all(FIELD_NAME.match(cell.strip()) for cell in cells) and any(
        name in KNOWN_FIELDS or name.startswith(REASON_PREFIXES)
        or name.partition(".")[0] in QUERY_GROUPS and "." in name for name in names
    )


def split_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [[cell.strip() for cell in row] for row in csv.reader(lines, skipinitialspace=True)]


def recognised_columns(rows: list[list[str]]) -> list[str] | None:
    """Field names for a noheader file, "" for a column that cannot be told; None when
    the rows are ragged or no column can be told."""
    if not rows or len({len(row) for row in rows}) != 1:
        return None
    names = [""] * len(rows[0])
    for field, pattern in RECOGNISABLE.items():
        column = next((i for i in range(len(names))
                       if not names[i] and all(pattern.match(row[i]) for row in rows)), None)
        if column is not None:
            names[column] = field
    return names if any(names) else None


def looks_like_csv(text: str) -> bool:
    rows = split_rows(text)
    return bool(rows) and (is_header(rows[0]) or recognised_columns(rows) is not None)


def parse_query_csv(text: str, fields: list[str] | None = None) -> NvidiaSmiRecord:
    """Parse csv output; `fields` is required for `noheader` output, else read from the header."""
    rows = split_rows(require_text(text, "nvidia-smi csv"))
    if is_header(rows[0]):
        names, rows = [canonical_field(cell) for cell in rows[0]], rows[1:]
    elif fields is not None:
        names = [canonical_field(field) for field in fields]
    elif (recognised := recognised_columns(rows)) is not None:
        names = recognised
    else:
        raise ParseError("nvidia-smi csv without a header line and no column to recognise "
                         "(GPU name, UUID, bus id): pass the queried field list")
    for row in rows:
        if len(row) != len(names):
            raise ParseError(f"nvidia-smi csv row has {len(row)} values for {len(names)} fields")
    records = [{n: v for n, v in zip(names, row, strict=True) if n} for row in rows]
    gpus = tuple(_gpu(position, values) for position, values in enumerate(records))
    driver = next((v["driver_version"] for v in records if "driver_version" in v), None)
    return NvidiaSmiRecord(
        source="csv",
        gpus=gpus,
        driver_version=None if is_missing(driver) else driver,
    )


def _gpu(position: int, values: Mapping[str, str]) -> GpuInfo:
    def number(field: str) -> int | None:
        return leading_int(values.get(field))

    index = number("index")
    return GpuInfo(
        index=position if index is None else index,
        name=_text(values.get("name")),
        bus_id=_text(values.get("pci.bus_id")),
        uuid=_text(values.get("uuid")),
        serial=_text(values.get("serial")),
        memory_used_mib=number("memory.used"),
        memory_total_mib=number("memory.total"),
        utilization_pct=number("utilization.gpu"),
        persistence_mode=yes_no(values.get("persistence_mode")),
        ecc_uncorrected_volatile=number("ecc.errors.uncorrected.volatile.total"),
        ecc_corrected_volatile=number("ecc.errors.corrected.volatile.total"),
        ecc_uncorrected_aggregate=number("ecc.errors.uncorrected.aggregate.total"),
        ecc_corrected_aggregate=number("ecc.errors.corrected.aggregate.total"),
        retired_pages_pending=yes_no(values.get("retired_pages.pending")),
        remapped_rows=RemappedRows(
            correctable=number("remapped_rows.correctable"),
            uncorrectable=number("remapped_rows.uncorrectable"),
            pending=yes_no(values.get("remapped_rows.pending")),
            failure=yes_no(values.get("remapped_rows.failure")),
        ),
        throttle_reasons=_active_reasons(values),
        temperature_c=number("temperature.gpu"),
        power_w=leading_number(values.get("power.draw")),
    )


def _text(value: str | None) -> str | None:
    if value is None or is_missing(value) or value.startswith("["):
        return None
    return value


def _active_reasons(values: Mapping[str, str]) -> tuple[str, ...]:
    active: list[str] = []
    for field, value in values.items():
        prefix = next((p for p in REASON_PREFIXES if field.startswith(p)), None)
        if prefix is None or value.strip() != "Active":
            continue
        reason = throttle_reason_name(field[len(prefix) :])
        if reason not in NOT_A_REASON and reason not in active:
            active.append(reason)
    return tuple(active)
