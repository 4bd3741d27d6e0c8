"""nvidia-smi: detect which of its three outputs we got and parse it.

- the default table (`nvidia-smi`), narrow 525-style and wide 530+/590 layouts;
- `nvidia-smi --query-gpu=... --format=csv` (with a header; for `noheader` call
  `parse_query_csv(text, fields)`);
- `nvidia-smi -q` (full, `-d` sections, or fragments with `[...]` elisions).

`No devices were found` (driver loaded, no GPU visible) is a valid answer: a record
with no GPUs and source "table", so a check can say "0 GPUs, expected 8".
"""

from __future__ import annotations

from preflight.parsers.common import ParseError, first_line, require_text
from preflight.parsers.nvidia_smi_csv import looks_like_csv, parse_query_csv
from preflight.parsers.nvidia_smi_q import looks_like_q, parse_q
from preflight.parsers.nvidia_smi_record import (
    GpuInfo,
    GpuProcess,
    NvidiaSmiRecord,
    RemappedRows,
)
from preflight.parsers.nvidia_smi_table import looks_like_table, parse_table

__all__ = [
    "GpuInfo",
    "GpuProcess",
    "NvidiaSmiRecord",
    "RemappedRows",
    "parse",
    "parse_query_csv",
]

NO_DEVICES = "No devices were found"


def parse(text: str) -> NvidiaSmiRecord:
    cleaned = require_text(text, "nvidia-smi")
    if cleaned.strip() == NO_DEVICES:
        return NvidiaSmiRecord(source="table", gpus=())
    if looks_like_q(cleaned):
        return parse_q(cleaned)
    if looks_like_table(cleaned):
        return parse_table(cleaned)
    if looks_like_csv(cleaned):
        return parse_query_csv(cleaned)
    raise ParseError(f"not nvidia-smi output (first line: {first_line(cleaned)!r})")
