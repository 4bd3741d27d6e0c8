"""The one reader of NCCL log lines: strip every stable prefix, keep who printed it and when.

Prefix families, in any nesting: markdown quoting ('> '), Kubernetes/ISO timestamps (one
or two), '[2025-11-24 11:20:21]', glog ('E1229 16:47:25.333'), Open MPI '[1,N]<stdout>:',
srun -l task labels ('12: '), torchrun '[rankN]:' and '[default0]:' (role + local rank),
pdsh/DeepSpeed 'host: ', then NCCL's 'host:pid:tid [dev] ' (pid and tid may be masked as
'XXXX') or nccl-tests' 'host: Test NCCL failure'. Ranks named inside PyTorch messages
('[PG 0 Rank 3]', '[14] is setting up NCCL communicator') are read too.

Launchers that report a failed process name its host and rank in the text (mpirun's
'process rank 3 with PID 0 on node node-3', 'srun: error: node-3: task 3:'); those are
kept too. Pure text in, record out; it imports nothing of ours. `preflight diagnose`
(preflight/diagnose/lines.py) and the nccl-tests parser (preflight/parsers/nccl_tests.py)
both read their lines through `normalize`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

TimeKey = tuple[int, int, int, float]  # year (0 when not printed), month, day, seconds
Fields = dict[str, Any]  # Normalized's fields found so far, by name

_QUOTE = re.compile(r"^(?:>\s?)+")
_ISO_TIME = re.compile(
    r"^\[?(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)[ T]"
    r"(?P<hms>\d\d:\d\d:\d\d(?:[.,]\d+)?)(?P<zone>Z|[+-]\d\d:?\d\d)?"
)
_GLOG_TIME = re.compile(r"^\[?[IWEF](?P<month>\d\d)(?P<day>\d\d) (?P<hms>\d\d:\d\d:\d\d(?:\.\d+)?)")
_MPI = re.compile(r"^\[\d+,(?P<rank>\d+)\]<(?:stdout|stderr)>:")
_LABEL = re.compile(r"^(?P<rank>\d+): ")
_TORCH_RANK = re.compile(r"^\[rank(?P<rank>\d+)\]:")
_ROLE_RANK = re.compile(r"^\[(?P<role>[A-Za-z_]+)(?P<local>\d+)\]:")
_PDSH_HOST = re.compile(r"^(?P<host>[A-Za-z][\w.\-]*): ")
_NOT_A_HOST = re.compile(
    r"(?:Error|Exception|Warning|Failure)$"
    r"|^(?:rank|gpu|cuda|device|epoch|step|iter|layer|stage|batch|thread|process)\d*$",
    re.IGNORECASE,
)
_NCCL = re.compile(r"^(?P<host>[\w.\-]+):(?P<pid>\d+|X+):(?P<tid>\d+|X+) \[(?P<dev>\d+)\] ")
_MESSAGE_RANK = re.compile(r"\[(?:PG [^\]]*?)?Rank (\d+)\]")
_SETUP_RANK = re.compile(
    r"\[(\d+)\] is setting up NCCL communicator|communicator was aborted on rank (\d+)"
)
# Launchers that name the host and rank of a failed process in the text.
_LAUNCHER_WHO = (
    re.compile(r"process rank (?P<rank>\d+) with PID \d+ on node (?P<host>[\w.\-]+)"),  # mpirun
    re.compile(r"^srun: error: (?P<host>[\w.\-]+): tasks? (?P<rank>\d+)\b"),  # srun
)
_MAX_PREFIXES = 8


class Normalized(NamedTuple):
    body: str  # the message after every recognised prefix
    host: str | None = None
    pid: int | None = None  # None also when masked ('XXXX')
    tid: int | None = None
    device: int | None = None
    rank: int | None = None
    local_rank: int | None = None  # torchrun '[default0]:'
    time: str | None = None  # ISO 8601 when the year was printed, else None
    time_printed: str | None = None  # the timestamp as printed
    time_key: TimeKey | None = None
    nccl: bool = False  # the line carried NCCL's 'host:pid:tid [dev]' prefix


def normalize(text: str) -> Normalized:
    """Strip the prefixes of one physical (or joined) line and keep what they carried."""
    fields: Fields = {}
    body = _outer_prefixes(text.strip(), fields)
    if match := _NCCL.match(body):
        fields.update(host=match["host"], pid=_number(match["pid"]), tid=_number(match["tid"]))
        fields.update(device=int(match["dev"]), nccl=True)
        body = body[match.end() :]
        if "time_key" not in fields:
            body = _time(body, fields)
    if (rank := _message_rank(body)) is not None:
        fields["rank"] = rank
    if "host" not in fields and ("rank" in body or "srun" in body):
        _launcher_who(body, fields)
    return Normalized(body)._replace(**fields)


def iso_time(year: int, month: int, day: int, hms: str, zone: str = "") -> str | None:
    """ISO 8601 from a printed time ('16:47:25,333123456' -> '16:47:25.333123'); None when
    the year is unknown (glog prints none)."""
    if year == 0:
        return None
    whole, _, fraction = hms.replace(",", ".").partition(".")
    text = f"{year:04d}-{month:02d}-{day:02d}T{whole}"
    return text + (f".{fraction[:6].ljust(6, '0')}" if fraction else "") + zone


def _outer_prefixes(body: str, fields: Fields) -> str:
    for _ in range(_MAX_PREFIXES):
        stripped = _one_prefix(body, fields)
        if stripped is None:
            return body
        body = stripped.lstrip()
    return body


def _one_prefix(body: str, fields: Fields) -> str | None:
    first = body[:1]
    if first == ">":
        return body[_QUOTE.match(body).end() :]  # type: ignore[union-attr]
    if first in "[IWEF0123456789" and (after := _time(body, fields)) is not body:
        return after
    if first == "[":
        for pattern in (_MPI, _TORCH_RANK):
            if match := pattern.match(body):
                fields["rank"] = int(match["rank"])
                return body[match.end() :]
        if match := _ROLE_RANK.match(body):
            fields["local_rank"] = int(match["local"])
            return body[match.end() :]
    elif first.isdigit() and (match := _LABEL.match(body)):
        fields.setdefault("rank", int(match["rank"]))
        return body[match.end() :]
    elif first.isalpha() and (match := _PDSH_HOST.match(body)) and _is_host(match["host"]):
        fields["host"] = match["host"]
        return body[match.end() :]
    return None


def _time(body: str, fields: Fields) -> str:
    """Consume a leading timestamp into fields (the first one seen wins); body if none."""
    for pattern in (_ISO_TIME, _GLOG_TIME):
        match = pattern.match(body)
        if match is None:
            continue
        year = int(match["year"]) if "year" in pattern.groupindex else 0
        key = _time_key(year, int(match["month"]), int(match["day"]), match["hms"])
        if key is None:
            return body  # not a real date: leave the text alone rather than half-parse it
        if "time_key" not in fields:
            zone = (match["zone"] or "") if "zone" in pattern.groupindex else ""
            zone = "+00:00" if zone == "Z" else zone
            iso = iso_time(year, int(match["month"]), int(match["day"]), match["hms"], zone)
            fields.update(time_key=key, time=iso)
            fields["time_printed"] = match.group(0).lstrip("[").lstrip("IWEF")
        return body[match.end() :].lstrip(" ]")
    return body


def _time_key(year: int, month: int, day: int, hms: str) -> TimeKey | None:
    hours, minutes, seconds = hms.replace(",", ".").split(":")
    try:
        datetime(year or 2000, month, day, int(hours), int(minutes), int(float(seconds)))
    except ValueError:
        return None
    return (year, month, day, int(hours) * 3600 + int(minutes) * 60 + float(seconds))


def _message_rank(body: str) -> int | None:
    match = _MESSAGE_RANK.search(body) if "Rank " in body else None
    if match is None and ("is setting up" in body or "was aborted" in body):
        match = _SETUP_RANK.search(body)
    return int(match.group(1) or match.group(2)) if match else None


def _launcher_who(body: str, fields: Fields) -> None:
    for pattern in _LAUNCHER_WHO:
        if match := pattern.search(body):
            fields.update(host=match["host"])
            fields.setdefault("rank", int(match["rank"]))
            return


def _is_host(name: str) -> bool:
    return any(c.isdigit() for c in name) and not _NOT_A_HOST.search(name)


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None
