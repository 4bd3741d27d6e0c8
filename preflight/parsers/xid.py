"""NVIDIA Xid events from kernel logs (dmesg, dmesg -T, journalctl -k, syslog).

    [Tue Jun  6 10:00:00 2023] NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: ...
    May 18 19:02:39 host kernel: NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.
    [  269.516977] NVRM: Xid (0000:01:00): 3, C 00000005 SC 00000007 ...   (old drivers)

Input policy: the probe usually greps the kernel log, so empty text is a valid answer
(no Xid events), and so is kernel text without Xid lines. Only text that cannot be a
log at all (binary data with NUL bytes) raises ParseError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from preflight.parsers.common import JsonRecord, ParseError, clean

XID_LINE = re.compile(
    r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.\d)?)\):"
    r"\s*(?P<xid>\d+)\s*,?\s*(?P<message>.*)$"
)
TIME_PATTERNS = (
    # syslog / journalctl short: "May 18 19:02:39"
    re.compile(r"^(?P<time>[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2})\s"),
    # journalctl -o short-iso / RFC 3339 syslog
    re.compile(
        r"^(?P<time>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
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


def parse(text: str) -> XidRecord:
    if "\x00" in text:
        raise ParseError("not a kernel log: binary data")
    events = []
    for line in clean(text).splitlines():
        match = XID_LINE.search(line)
        if match:
            events.append(
                XidEvent(
                    xid=int(match.group("xid")),
                    pci=match.group("pci").lower(),
                    message=match.group("message").strip(),
                    time=_time(line[: match.start()]),
                )
            )
    return XidRecord(events=tuple(events))


def _time(prefix: str) -> str | None:
    """The timestamp before 'NVRM:', preferring wall-clock time over seconds since boot."""
    for pattern in TIME_PATTERNS:
        match = pattern.search(prefix.strip())
        if match:
            return match.group("time")
    return None
