"""Parse nccl-tests output (all_reduce_perf and friends) into a typed record.

Handles every layout seen in the field: NCCL 1 era (no leading '#', 'res' column), the old
format ('error' column, with or without 'redop'), the current one ('redop root ... #wrong'),
the newest ('# Collective test starting', 'NCCL version' inside the header), mpirun
'[1,N]<stdout>:' prefixes, NCCL INFO lines between rows, markdown indentation, runs that end
in failures and tail fragments that start at the column header.

Launchers and log collectors put their own prefix before every line (`node01: `, a
timestamp, `[pod/x/launcher] `), alone or stacked before Open MPI's: every line goes through
the NCCL log line reader (`preflight.parsers.nccl_lines`, shared with `preflight diagnose`),
and the text still before a nccl-tests header line is taken as a prefix shape (its digits
free) and stripped wherever a line starts with it. Failure lines keep the host they name.
`collective` is what the file names (the binary, the "Collective test starting" line) or
None; `ranks` is the highest rank index + 1 (a listing elided with '...' still counts) or
nranks where NCCL printed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from preflight.parsers.common import ParseError, clean, require_text
from preflight.parsers.nccl_lines import normalize

_PARAMS = re.compile(r"^#?\s*nThread\s+(\d+)\s+nGpus\s+(\d+)")
_RANK_LINE = re.compile(r"^#\s*Rank\s+(\d+)\s")
_COLUMNS = re.compile(r"^#\s*(?:size|bytes)\s+(?:count|N)\s+type\b")
_UNITS = re.compile(r"^#\s*\(B\)\s+\(elements\)")
_AVG = re.compile(r"^#\s*Avg bus bandwidth\s*:\s*(\S+)")
_OOB = re.compile(r"^#\s*Out of bounds values\s*:\s*(\d+)\s+(OK|FAILED)")
_STARTING = re.compile(r"^#\s*Collective test starting:\s*(\w+?)(?:_perf)?\s*$")
_VERSION = re.compile(r"NCCL version (\S+)")
_NCCL1_VERSION = re.compile(r"^#\s*NCCL Tests compiled with NCCL (\S+)")
_NRANKS = re.compile(r"\brank \d+ nranks (\d+)\b")
# Where nccl-tests' own text starts on a header line, whatever a launcher put before it.
_HEADER_START = re.compile(
    r"#\s*(?:nThread\s|Rank\s+\d|(?:size|bytes)\s+(?:count|N)\s+type\b|\(B\)\s+\(elements\)"
    r"|Avg bus bandwidth|Out of bounds values|Using devices|Collective test)"
)
_ERROR = re.compile(
    r"Test NCCL failure|Test CUDA failure|Test failure|NCCL failure|Cuda failure"
    r"|unhandled (?:cuda|system) error"
)
_COLLECTIVES = (
    "all_reduce", "all_gather", "reduce_scatter", "alltoall", "broadcast", "reduce",
    "sendrecv", "gather", "scatter", "hypercube",
)  # fmt: skip
_BINARY = re.compile(r"\b(" + "|".join(_COLLECTIVES) + r")(?:_perf\b|\.cu:)")
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class NcclTestsRow:
    size_bytes: int
    count: int
    type: str
    redop: str | None
    root: int | None
    oop_time_us: float | None
    oop_algbw_gbps: float | None
    oop_busbw_gbps: float | None
    oop_wrong: int | None
    ip_time_us: float | None
    ip_algbw_gbps: float | None
    ip_busbw_gbps: float | None
    ip_wrong: int | None

    def busbw_cells(self) -> list[float]:
        return [v for v in (self.oop_busbw_gbps, self.ip_busbw_gbps) if v is not None]


@dataclass(frozen=True)
class NcclTestsRun:
    collective: str | None
    ranks: int | None
    avg_busbw_gbps: float | None
    wrong: int | None
    out_of_bounds: int | None
    nccl_version: str | None
    rows: tuple[NcclTestsRow, ...]
    errors: tuple[str, ...]

    @property
    def max_busbw_gbps(self) -> float | None:
        cells = [cell for row in self.rows for cell in row.busbw_cells()]
        return max(cells) if cells else None

    @property
    def failed(self) -> bool:
        """True when the run reported errors, wrong values or out-of-bounds values."""
        return bool(self.errors) or bool(self.wrong) or bool(self.out_of_bounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collective": self.collective,
            "ranks": self.ranks,
            "avg_busbw_gbps": self.avg_busbw_gbps,
            "wrong": self.wrong,
            "out_of_bounds": self.out_of_bounds,
            "nccl_version": self.nccl_version,
            "rows": [asdict(row) for row in self.rows],
            "errors": list(self.errors),
            "max_busbw_gbps": self.max_busbw_gbps,
        }


def busbw_factor(collective: str, nranks: int) -> float:
    """busbw = algbw x this factor (nccl-tests doc/PERFORMANCE.md)."""
    if nranks < 1:
        raise ValueError(f"nranks must be at least 1, got {nranks}")
    name = collective.lower().removesuffix("_perf").replace("_", "")
    if name == "allreduce":
        return 2 * (nranks - 1) / nranks
    if name in {"allgather", "reducescatter", "alltoall"}:
        return (nranks - 1) / nranks
    if name in {"broadcast", "reduce"}:
        return 1.0
    raise ValueError(f"unknown collective {collective!r}")


def parse(text: str) -> NcclTestsRun:
    """Parse one nccl-tests run; raise ParseError when the text is not nccl-tests output."""
    lines, errors = _lines(text)
    if not any(_is_marker(line) for line in lines):
        raise ParseError("not nccl-tests output: no nThread/Rank/column header/Avg line found")
    header = _column_header(lines)
    rows = tuple(row for line in lines if (row := _parse_row(line, header)) is not None)
    return NcclTestsRun(
        collective=_collective(lines),
        ranks=_ranks(lines),
        avg_busbw_gbps=_first_float(_AVG, lines),
        wrong=_total_wrong(rows),
        out_of_bounds=_out_of_bounds(lines),
        nccl_version=_nccl_version(lines),
        rows=rows,
        errors=errors,
    )


def _lines(text: str) -> tuple[list[str], tuple[str, ...]]:
    """Cleaned lines (common.clean) without the prefixes the NCCL line reader knows or a
    launcher repeats on the lines; and the failure lines, each after the host it names."""
    read = [normalize(line) for line in require_text(text, "nccl-tests").splitlines()]
    lines = [line.body.strip() for line in read]
    shapes = _prefix_shapes(lines)
    if shapes:
        lines = [_unprefixed(line, shapes) for line in lines]
    errors = tuple(
        f"{line.host}: {body}" if line.host else body
        for line, body in zip(read, lines, strict=True)
        if _ERROR.search(body)
    )
    return lines, errors


def _prefix_shapes(lines: Iterable[str]) -> list[re.Pattern[str]]:
    """The prefixes before header lines as patterns, digits free: 'node01: [1,0]<stdout>:'
    also strips 'node02: [1,3]<stdout>:'. Longest first, so a stacked prefix wins."""
    shapes: dict[str, re.Pattern[str]] = {}
    for line in lines:
        start = _HEADER_START.search(line)
        if start is None or not line[:start.start()].strip():
            continue
        prefix = line[:start.start()].rstrip()
        pattern = "".join(r"\d+" if part.isdigit() else re.escape(part)
                          for part in re.split(r"(\d+)", prefix))
        shapes.setdefault(pattern, re.compile(f"^{pattern}\\s*"))
    return sorted(shapes.values(), key=lambda shape: -len(shape.pattern))


def _unprefixed(line: str, shapes: Sequence[re.Pattern[str]]) -> str:
    for shape in shapes:
        if match := shape.match(line):
            return clean(line[match.end():]).strip()
    return line


def _is_marker(line: str) -> bool:
    markers = (_PARAMS, _RANK_LINE, _COLUMNS, _UNITS, _AVG, _OOB, _STARTING)
    return any(pattern.match(line) for pattern in markers)


@dataclass(frozen=True)
class _Header:
    """What the column header says: how 'wrong' is counted."""

    counts_wrong: bool  # '#wrong' counts values; the old 'error'/'res' is a max error


def _column_header(lines: Iterable[str]) -> _Header:
    for line in lines:
        if _COLUMNS.match(line):
            names = line.lstrip("#").split()
            return _Header(counts_wrong="#wrong" in names)
    return _Header(counts_wrong=True)


def _parse_row(line: str, header: _Header) -> NcclTestsRow | None:
    tokens = line.split()
    if len(tokens) < 11 or not (tokens[0].isdigit() and tokens[1].isdigit()):
        return None
    if not _TYPE_NAME.match(tokens[2]) or len(tokens) > 13:
        return None
    tail = tokens[-8:]
    if any(_number(token) is None and token != "N/A" for token in tail):
        return None
    cells = [_number(token) for token in tail]
    redop, root = _redop_root(tokens[3:-8])
    counts = header.counts_wrong
    oop_wrong, ip_wrong = (_count(cells[3]), _count(cells[7])) if counts else (None, None)
    return NcclTestsRow(
        size_bytes=int(tokens[0]),
        count=int(tokens[1]),
        type=tokens[2],
        redop=redop,
        root=root,
        oop_time_us=cells[0],
        oop_algbw_gbps=cells[1],
        oop_busbw_gbps=cells[2],
        oop_wrong=oop_wrong,
        ip_time_us=cells[4],
        ip_algbw_gbps=cells[5],
        ip_busbw_gbps=cells[6],
        ip_wrong=ip_wrong,
    )


def _redop_root(middle: Sequence[str]) -> tuple[str | None, int | None]:
    """The optional redop/root cells; old alltoall rows leave the redop cell empty."""
    redop: str | None = None
    root: int | None = None
    for token in middle:
        if re.fullmatch(r"-?\d+", token):
            root = int(token)
        else:
            redop = token
    return redop, root


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _count(value: float | None) -> int | None:
    """#wrong cells are counts; large ones are printed as '1.04858e+06'."""
    return None if value is None else round(value)


def _first_float(pattern: re.Pattern[str], lines: Iterable[str]) -> float | None:
    for line in lines:
        if (match := pattern.match(line)) and (value := _number(match.group(1))) is not None:
            return float(value)
    return None


def _out_of_bounds(lines: Iterable[str]) -> int | None:
    for line in lines:
        if match := _OOB.match(line):
            return int(match.group(1))
    return None


def _total_wrong(rows: Sequence[NcclTestsRow]) -> int | None:
    cells = [c for row in rows for c in (row.oop_wrong, row.ip_wrong) if c is not None]
    return sum(cells) if cells else None


def _ranks(lines: Sequence[str]) -> int | None:
    nranks = [int(m.group(1)) for line in lines if (m := _NRANKS.search(line))]
    if nranks:
        return max(nranks)
    rank_ids = [int(m.group(1)) for line in lines if (m := _RANK_LINE.match(line))]
    if rank_ids:
        return max(rank_ids) + 1  # also when the listing is elided ('...')
    for line in lines:
        if match := _PARAMS.match(line):
            return int(match.group(1)) * int(match.group(2))
    return None


def _nccl_version(lines: Iterable[str]) -> str | None:
    for line in lines:
        if match := _VERSION.search(line) or _NCCL1_VERSION.match(line):
            return match.group(1)
    return None


def _collective(lines: Sequence[str]) -> str | None:
    """What the file names (the binary, a source file, the "Collective test starting"
    line); None when it names none: a table alone does not tell all_reduce from sendrecv."""
    for line in lines:
        if match := _STARTING.match(line) or _BINARY.search(line):
            return match.group(1)
    return None
