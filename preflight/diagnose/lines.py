"""Read log files into attributed lines: who printed each line, and when.

Attribution comes from the prefixes launchers and libraries put on a line: Open MPI
'[1,N]<stdout>:', srun -l / torchrun 'N: ', PyTorch '[rankN]:', glog or ISO timestamps,
NCCL's 'host:pid:tid [dev] ', nccl-tests' 'host: Test NCCL failure', and '[Rank N]' or
'[PG 1 Rank N]' inside PyTorch messages.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from preflight.errors import UserError

TimeKey = tuple[int, int, int, float]  # year (0 when not printed), month, day, seconds
ProcessKey = tuple[str, int | None, int | None]  # host, pid, device

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_MPI = re.compile(r"^\[\d+,(\d+)\]<(?:stdout|stderr)>:")
_LABEL = re.compile(r"^(\d+): ")
_TORCH_RANK = re.compile(r"^\[rank(\d+)\]:")
_GLOG_TIME = re.compile(r"^\[?[IWEF](?P<month>\d\d)(?P<day>\d\d) (?P<hms>\d\d:\d\d:\d\d(?:\.\d+)?)")
_ISO_TIME = re.compile(
    r"^\[?(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)[ T](?P<hms>\d\d:\d\d:\d\d(?:[.,]\d+)?)"
)
_NCCL = re.compile(r"^(?P<host>[\w.\-]+):(?P<pid>\d+):(?P<tid>\d+) \[(?P<dev>\d+)\] ")
_TEST_HOST = re.compile(r"^(?P<host>[\w.\-]+): Test (?:NCCL|CUDA) failure")
_MESSAGE_RANK = re.compile(r"\[(?:PG [^\]]*?)?Rank (\d+)\]")
# NCCL WARN lines that terminals or issue trackers soft-wrap: (start, expected tail).
_WRAPPED = (("Got completion from peer", "vendor err"),)
_SNIFF_BYTES = 8192
_LAUNCHER_STARTS = frozenset("[0123456789")
_TIME_STARTS = frozenset("[IWEF0123456789")


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
    time: str | None = None
    time_key: TimeKey | None = None

    @property
    def process(self) -> ProcessKey | None:
        """Set on NCCL's 'host:pid:tid [dev]' lines only."""
        return (self.host, self.pid, self.device) if self.host and self.pid is not None else None


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
    """Every non-blank line of one file, attributed, with soft-wrapped lines joined."""
    source = str(path)
    with _open(path) as handle:
        physical = (_decode(data) for data in handle)
        pending: tuple[int, str] | None = None
        for lineno, text in enumerate(physical, start=1):
            if pending is not None:
                start_no, start_text = pending
                pending = None
                if not _NCCL.match(text):
                    yield parse_line(source, start_no, (start_text, text))
                    continue
                yield parse_line(source, start_no, (start_text,))
            if _is_wrapped_start(text):
                pending = (lineno, text)
            elif text.strip():
                yield parse_line(source, lineno, (text,))
        if pending is not None:
            yield parse_line(source, pending[0], (pending[1],))


def parse_line(source: str, lineno: int, raw: tuple[str, ...]) -> LogLine:
    body = " ".join(part.strip() for part in raw) if len(raw) > 1 else raw[0].strip()
    rank, body = _launcher_rank(body)
    time, time_key, body = _timestamp(body)
    host = pid = tid = device = None
    if match := _NCCL.match(body):
        host, pid, tid = match["host"], int(match["pid"]), int(match["tid"])
        device = int(match["dev"])
        body = body[match.end() :]
    elif match := _TEST_HOST.match(body):
        host = match["host"]
    if time is None:
        time, time_key, body = _timestamp(body)
    if "Rank " in body and (match := _MESSAGE_RANK.search(body)):
        rank = int(match.group(1))
    return LogLine(source, lineno, raw, body, host, pid, tid, device, rank, time, time_key)


def _launcher_rank(body: str) -> tuple[int | None, str]:
    rank = None
    for pattern in (_MPI, _LABEL, _TORCH_RANK):
        if body[:1] in _LAUNCHER_STARTS and (match := pattern.match(body)):
            rank = int(match.group(1))
            body = body[match.end() :].lstrip()
    return rank, body


def _timestamp(body: str) -> tuple[str | None, TimeKey | None, str]:
    if body[:1] not in _TIME_STARTS:
        return None, None, body
    for pattern in (_ISO_TIME, _GLOG_TIME):
        if match := pattern.match(body):
            year = int(match["year"]) if "year" in pattern.groupindex else 0
            hours, minutes, seconds = match["hms"].replace(",", ".").split(":")
            secs = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            key = (year, int(match["month"]), int(match["day"]), secs)
            return match.group(0).lstrip("[IWEF"), key, body[match.end() :].lstrip(" ]")
    return None, None, body


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
