"""Read log files into attributed lines: who printed each line, and when.

Each line goes through normalize() (every launcher, collector and library prefix);
soft-wrapped NCCL WARN lines are joined first, and a file named for its rank lends that
rank to lines that name none.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from preflight.errors import UserError
from preflight.parsers.nccl_lines import TimeKey, normalize

ProcessKey = tuple[str, int | None, int | None]  # host, pid, device

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_RANK_FILE = re.compile(r"^(?:rank|task|proc)?[-_.]?(?P<rank>\d+)(?:\.(?:out|err|log|txt))+$")
# NCCL WARN lines that terminals or issue trackers soft-wrap: (start, expected tail).
_WRAPPED = (("Got completion from peer", "vendor err"),)
_SNIFF_BYTES = 8192


class LogLine(NamedTuple):
    source: str
    lineno: int
    raw: tuple[str, ...]  # the physical lines, as printed (two when soft-wrapped)
    body: str  # the message after every recognised prefix
    host: str | None = None
    pid: int | None = None
    tid: int | None = None
    device: int | None = None
    rank: int | None = None
    time: str | None = None  # ISO 8601, or None where the log printed no year
    time_key: TimeKey | None = None
    time_printed: str | None = None
    nccl: bool = False

    @property
    def process(self) -> ProcessKey | None:
        """Set on NCCL's 'host:pid:tid [dev]' lines only (pid None where it was masked)."""
        return (self.host, self.pid, self.device) if self.host and self.nccl else None


def log_files(paths: Sequence[Path]) -> list[Path]:
    """The files to read: named files as given, directories walked for text files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and _is_text(p))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"diagnose: no such file or directory: {path}")
    if not files:
        raise UserError(f"diagnose: no text files in {', '.join(map(str, paths))}")
    return files


def read_lines(path: Path) -> Iterator[LogLine]:
    """Every non-blank line of one file, attributed, with soft-wrapped lines joined.

    A file named for its rank ('3.out', 'rank3.log', as Slurm's --output=%t writes) gives
    that rank to the lines that name none.
    """
    source = str(path)
    file_rank = _rank_of_file(path)
    with _open(path) as handle:
        physical = (_decode(data) for data in handle)
        pending: tuple[int, str] | None = None
        for lineno, text in enumerate(physical, start=1):
            if pending is not None:
                start_no, start_text = pending
                pending = None
                if not normalize(text).nccl:
                    yield parse_line(source, start_no, (start_text, text), file_rank)
                    continue
                yield parse_line(source, start_no, (start_text,), file_rank)
            if _is_wrapped_start(text):
                pending = (lineno, text)
            elif text.strip():
                yield parse_line(source, lineno, (text,), file_rank)
        if pending is not None:
            yield parse_line(source, pending[0], (pending[1],), file_rank)


def parse_line(
    source: str, lineno: int, raw: tuple[str, ...], file_rank: int | None = None
) -> LogLine:
    text = " ".join(part.strip() for part in raw) if len(raw) > 1 else raw[0]
    found = normalize(text)
    rank = found.rank if found.rank is not None else file_rank
    return LogLine(
        source, lineno, raw, found.body, found.host, found.pid, found.tid, found.device, rank,
        found.time, found.time_key, found.time_printed, found.nccl,
    )  # fmt: skip


def _rank_of_file(path: Path) -> int | None:
    match = _RANK_FILE.match(path.name)
    return int(match["rank"]) if match else None


def _is_wrapped_start(text: str) -> bool:
    return any(start in text and tail not in text for start, tail in _WRAPPED)


def _decode(data: bytes) -> str:
    return _ANSI.sub("", data.decode("utf-8", errors="replace")).rstrip("\r\n")


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def _is_text(path: Path) -> bool:
    try:
        with _open(path) as handle:
            return b"\0" not in handle.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        return False
