"""NVIDIA Xid events from kernel logs (dmesg, dmesg -T, journalctl -k, syslog).

    [Tue Jun  6 10:00:00 2023] NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: ...
    May 18 19:02:39 host kernel: NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.
    [  269.516977] NVRM: Xid (0000:01:00): 3, C 00000005 SC 00000007 ...   (old drivers)

Input policy: `parse` (the `preflight parse xid` kind) reads kernel log output only: text
where Xid lines appear or most lines carry a kernel log prefix (a dmesg timestamp, syslog /
journalctl's "host kernel:", dmesg -x's facility). Anything else (empty text, an HTML page,
a topo matrix) raises ParseError rather than report "no events". `events` reads what the
probe kept of a node's kernel log (its NVRM lines, often none) without that test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from preflight.parsers.common import JsonRecord, ParseError, clean, first_line

XID_LINE = re.compile(
    r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.\d)?)\):"
    r"\s*(?P<xid>\d+)\s*,?\s*(?P<message>.*)$"
)
TIME_PATTERNS = (
    # syslog / journalctl short: "May 18 19:02:39"
    re.compile(r"^(?P<time>[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2})\s"),
    # journalctl -o short-iso / RFC 3339 syslog
    re.compile(
        r"^(?P<time>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
    ),
    # dmesg -T: "[Tue Jun  6 10:00:00 2023]"
    re.compile(r"\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\]"),
    # plain dmesg: seconds since boot, "[  269.516977]"
    re.compile(r"\[\s*(?P<time>\d+\.\d+)\]"),
)

# Xids that point at the hardware (memory, NVLink, bus, GPU firmware) rather than at the
# application, with a one-line meaning. Source: NVIDIA's public Xid catalog,
# https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html (and the older
# per-Xid table at https://docs.nvidia.com/deploy/xid-errors/index.html).
HARDWARE_XIDS: dict[int, str] = {
    48: "double-bit ECC error (uncorrectable memory error)",
    61: "internal micro-controller breakpoint/warning",
    62: "internal micro-controller halt",
    63: "ECC page retirement or row remapping recorded (reset the GPU to apply)",
    64: "ECC page retirement or row remapping recording failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
    140: "unrecovered ECC error",
}


@dataclass(frozen=True)
class XidEvent(JsonRecord):
    xid: int
    pci: str
    message: str
    time: str | None


@dataclass(frozen=True)
class XidRecord(JsonRecord):
    events: tuple[XidEvent, ...]


def is_hardware(xid: int) -> bool:
    return xid in HARDWARE_XIDS


# How a kernel log line starts: dmesg ("[  269.5]", -T "[Mon Jan 20 10:18:26 2025]", iso
# "2025-01-20T10:18:26,123456+00:00"), journalctl -k / syslog ("May 18 19:02:39 host
# kernel:"), dmesg -x ("kern  :info  : ").
KERNEL_LINE = re.compile(
    r"^(?:\[\s*\d+\.\d+\]"
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4}\]"
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}\S*\s"
    r"|[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+\S+\s+kernel:"
    r"|[a-z]+\s*:[a-z]+\s*: )"
)
JOURNAL_NOTE = re.compile(r"^-- .* --$")  # "-- No entries --", "-- Logs begin at ... --"


def parse(text: str) -> XidRecord:
    """Xid events of a saved kernel log; ParseError for text that is not one."""
    if "\x00" in text:
        raise ParseError("not a kernel log: binary data")
    lines = [line for line in clean(text).splitlines() if line.strip()]
    if not lines:
        raise ParseError("not a kernel log: empty text")
    logged = [line for line in lines if not JOURNAL_NOTE.match(line)]
    kernel = sum(1 for line in logged if KERNEL_LINE.match(line) or XID_LINE.search(line))
    if kernel * 2 < len(logged) or (logged and not kernel):
        raise ParseError(f"not a kernel log (dmesg, journalctl -k): {first_line(text)!r}")
    return events(text)


def events(text: str) -> XidRecord:
    """The Xid events in `text`, whatever else it holds (none for empty text)."""
    if "\x00" in text:
        raise ParseError("not a kernel log: binary data")
    found = []
    for line in clean(text).splitlines():
        match = XID_LINE.search(line)
        if match:
            found.append(
                XidEvent(
                    xid=int(match.group("xid")),
                    pci=match.group("pci").lower(),
                    message=match.group("message").strip(),
                    time=_time(line[: match.start()]),
                )
            )
    return XidRecord(events=tuple(found))


def _time(prefix: str) -> str | None:
    """The timestamp before 'NVRM:', preferring wall-clock time over seconds since boot."""
    for pattern in TIME_PATTERNS:
        match = pattern.search(prefix.strip())
        if match:
            return match.group("time")
    return None
