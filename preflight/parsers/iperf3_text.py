"""iperf3's human-readable report: only the final summary lines are read.

[ ID] Interval           Transfer     Bitrate         Retr
[  5]   0.00-10.00  sec  29.1 GBytes  25.0 Gbits/sec    0             sender
[  5]   0.00-10.05  sec  29.1 GBytes  24.9 Gbits/sec                  receiver
[SUM][TX-C]   0.00-10.00  sec  ...                                    sender

A file may hold several runs one after another (`-R`, then forward): each "Connecting to
host" line starts a run of its own. iperf3 before 3.1.5 or so prints a UDP client's summary
as one unlabelled line after the `- - -` rule (rate, jitter, Lost/Total); such a line after
the rule is the sender's (the client's) on a client, the receiver's on a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from preflight.parsers.iperf3_record import Iperf3Record, IperfRun, Protocol

NUMBER = r"\d+(?:\.\d+)?"
SUMMARY = re.compile(
    rf"^\[\s*(?P<id>\d+|SUM)\](?:\[(?P<role>[TR]X-[CS])\])?\s+{NUMBER}-{NUMBER}\s+sec\s+"
    rf"{NUMBER}\s+[KMGT]?Bytes\s+(?P<rate>{NUMBER})\s+(?P<unit>[KMGT]?(?:bits|Bytes))/sec"
    r"(?P<rest>.*?)\s+(?P<side>sender|receiver)\s*$"
)
UNLABELLED = re.compile(
    rf"^\[\s*(?P<id>\d+|SUM)\](?:\[(?P<role>[TR]X-[CS])\])?\s+{NUMBER}-{NUMBER}\s+sec\s+"
    rf"{NUMBER}\s+[KMGT]?Bytes\s+(?P<rate>{NUMBER})\s+(?P<unit>[KMGT]?(?:bits|Bytes))/sec"
    r"(?P<rest>.*?)\s*$"
)
SUMMARY_RULE = re.compile(r"^- - - ")
RUN_START = re.compile(r"^Connecting to host ", re.M)
TOOL_MESSAGE = re.compile(r"^iperf3: (?P<message>.+)$")
MARKERS = re.compile(r"^(\[ ID\]|Connecting to host|Server listening on|iperf Done\.)", re.M)
BIT_PREFIX = {"": 1e0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
# iperf3 scales bytes by 1024 (its -f K/M/G/T formats), bits by 1000.
BYTE_PREFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
# Direction of each --bidir role relative to the client: does the client receive?
ROLE_REVERSE = {"TX-C": False, "RX-C": True, "TX-S": True, "RX-S": False}
NO_SUMMARY = "no final summary in iperf3 output (test interrupted?)"


@dataclass
class _Direction:
    """Summary lines of one role ([TX-C], [RX-C] ... or none without --bidir)."""

    stream_ids: set[str] = field(default_factory=set)
    sender: dict[str, re.Match[str]] = field(default_factory=dict)
    receiver: dict[str, re.Match[str]] = field(default_factory=dict)


def clean_error(message: str | None) -> str | None:
    """'iperf3: error - unable to connect ...' -> 'unable to connect ...'."""
    if message is None:
        return None
    return re.sub(r"^(?:iperf3:\s*)?error\s*-\s*", "", message.strip())


def parse_text(text: str) -> Iperf3Record | None:
    """The record, or None when the text has nothing of iperf3 in it."""
    if not MARKERS.search(text) and not any(
            SUMMARY.match(line.strip()) or TOOL_MESSAGE.match(line.strip())
            for line in text.splitlines()):
        return None
    runs: list[IperfRun] = []
    error = None
    for segment in _segments(text):
        found, said = _segment_runs(segment)
        runs += found
        error = said or error
    if not runs and error is None:
        error = NO_SUMMARY
    return Iperf3Record(runs=tuple(runs), error=error)


def _segments(text: str) -> list[str]:
    """One text per client run (each starts at "Connecting to host"); the whole text when
    it holds one run or none of those lines."""
    starts = [m.start() for m in RUN_START.finditer(text)]
    if len(starts) < 2:
        return [text]
    starts[0] = 0  # anything before the first run belongs to it
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _segment_runs(text: str) -> tuple[list[IperfRun], str | None]:
    directions: dict[str | None, _Direction] = {}
    unlabelled: list[re.Match[str]] = []
    error = None
    after_rule = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Server output:"):  # --get-server-output: not our summary
            break
        after_rule = after_rule or bool(SUMMARY_RULE.match(stripped))
        if summary := SUMMARY.match(stripped):
            _add(directions.setdefault(summary.group("role"), _Direction()), summary,
                 summary.group("side"))
        elif after_rule and (old := UNLABELLED.match(stripped)):
            unlabelled.append(old)
        elif tool := TOOL_MESSAGE.match(stripped):
            error = clean_error(tool.group("message"))
    if not directions:  # an older iperf3: the lines after the rule carry no side
        side = "sender" if RUN_START.search(text) else "receiver"
        for old in unlabelled:
            _add(directions.setdefault(old.group("role"), _Direction()), old, side)
    protocol: Protocol = "udp" if "Jitter" in text else "tcp"
    reverse = "Reverse mode" in text
    runs = [_run(direction, ROLE_REVERSE.get(role or "", reverse), protocol)
            for role, direction in directions.items()]
    return runs, error


def _add(direction: _Direction, line: re.Match[str], side: str) -> None:
    stream = line.group("id")
    if stream != "SUM":
        direction.stream_ids.add(stream)
    (direction.sender if side == "sender" else direction.receiver)[stream] = line


def _run(direction: _Direction, reverse: bool, protocol: Protocol) -> IperfRun:
    sender = _total_gbps(direction.sender)
    retransmits = None
    if protocol == "tcp":
        retransmits = _total_retransmits(direction.sender)
    return IperfRun(
        sender_gbps=sender,
        receiver_gbps=_total_gbps(direction.receiver),
        reverse=reverse,
        streams=max(len(direction.stream_ids), 1),
        protocol=protocol,
        retransmits=retransmits,
    )


def _lines_for_total(lines: dict[str, re.Match[str]]) -> list[re.Match[str]]:
    """The [SUM] line when there is one, else every stream's line."""
    return [lines["SUM"]] if "SUM" in lines else list(lines.values())


def _total_gbps(lines: dict[str, re.Match[str]]) -> float | None:
    chosen = _lines_for_total(lines)
    if not chosen:
        return None
    return sum(_gbps(line.group("rate"), line.group("unit")) for line in chosen)


def _gbps(value: str, unit: str) -> float:
    prefix = unit[0] if unit[0] in "KMGT" else ""
    if unit.endswith("Bytes"):
        return float(value) * BYTE_PREFIX[prefix] * 8 / 1e9
    return float(value) * BIT_PREFIX[prefix] / 1e9


def _total_retransmits(lines: dict[str, re.Match[str]]) -> int | None:
    counts = [line.group("rest").split()[:1] for line in _lines_for_total(lines)]
    if not counts or not all(c and c[0].isdigit() for c in counts):
        return None
    return sum(int(c[0]) for c in counts)
