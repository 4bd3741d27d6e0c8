"""The record iperf3's JSON and text outputs parse into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preflight.parsers.common import JsonRecord

Protocol = Literal["tcp", "udp"]


@dataclass(frozen=True)
class IperfRun(JsonRecord):
    """One direction of one test; rates in Gbit/s (decimal, as iperf3 prints them)."""

    sender_gbps: float | None
    receiver_gbps: float | None
    reverse: bool
    streams: int
    protocol: Protocol
    retransmits: int | None


@dataclass(frozen=True)
class Iperf3Record(JsonRecord):
    runs: tuple[IperfRun, ...]
    error: str | None = None
