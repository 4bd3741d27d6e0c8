"""perftest: ib_write_bw / ib_read_bw / ib_send_bw / ib_atomic_bw (and the *_lat tests).

The banner names the test ("RDMA_Write BW Test", "Atomic CMP_AND_SWAP BW Test",
"Send Latency Test"); it is normalised to the binary's name (ib_write_bw ...).

Units: perftest divides bytes/s by 0x100000 for its `MB/sec` columns (so MB = MiB =
2^20 bytes) and by 125000000 for `--report_gbits` (`Gb/sec` = 10^9 bit/s); see
`format_factor` in perftest_parameters.c (linux-rdma/perftest). So
Gbit/s = MB/sec x 2^20 x 8 / 10^9 = MB/sec x 0.008388608.

A server and a client log captured together (one after the other, or interleaved) print
the same result row twice: rows are kept once per message size, first seen wins.

A run that printed no result row but one of perftest's own failure messages ("Couldn't
read remote address", "Unable to find the Infiniband/RoCE device" ...) gives `error`: the
first such line; the output may be nothing else (stderr alone, no banner).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from preflight.parsers.common import JsonRecord, ParseError, first_line, require_text

MB_PER_SEC_TO_GBPS = 2**20 * 8 / 1e9
BANNER = re.compile(
    r"^\s*(?P<verb>Send|RDMA_Write|RDMA_Read|Atomic)\s+(?:(?:CMP_AND_SWAP|FETCH_AND_ADD)\s+)?"
    r"(?:Bidirectional\s+)?(?:Post List\s+)?(?P<kind>BW|Latency)\s+(?:.*\s)?Test\s*$"
)
VERB_NAMES = {"Send": "send", "RDMA_Write": "write", "RDMA_Read": "read", "Atomic": "atomic"}
DEVICE = re.compile(r"Device\s*:\s*(?P<device>\S+)")
BW_HEADER = re.compile(r"#bytes\s+#iterations\s+BW peak\[(?P<unit>MB|Gb)/sec\]")
LAT_HEADER = re.compile(r"#bytes\s+#iterations\s+t_min\[usec\]")
NUMBER = r"\d+(?:\.\d+)?"
# A BW row may end with a CPU_Util[%] column (--cpu_util); old *_lat tests print 3 times.
BW_ROW = re.compile(
    rf"^\s*(\d+)\s+(\d+)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})(?:\s+{NUMBER})?\s*$"
)
LAT_ROW = re.compile(rf"^\s*(\d+)\s+(\d+)((?:\s+{NUMBER}){{3,7}})\s*$")
# perftest's own failure messages (perftest_communication.c, perftest_resources.c,
# perftest_parameters.c), optionally after the function name that printed them.
FAILURE = re.compile(
    r"^\s*(?:\w+: )?(?:Couldn't (?:read remote address|connect to|get context|get device"
    r"|set the link layer|allocate|create|listen|bind|modify|post send|poll)"
    r"|Unable to (?:find the Infiniband/RoCE device|open file descriptor|init the socket"
    r"|read to socket|write to socket)"
    r"|Failed to (?:exchange data|create|modify|deallocate|destroy)"
    r"|No IB devices found|IB device \S+ not found|Port number \d+ state is \w+"
    r"|Completion with error)"
)


@dataclass(frozen=True)
class BwRow(JsonRecord):
    bytes: int
    iterations: int
    bw_peak_gbps: float
    bw_avg_gbps: float
    msg_rate_mpps: float


@dataclass(frozen=True)
class LatRow(JsonRecord):
    """A *_lat row: t_min, t_max, t_typical, t_avg, t_stdev, 99% and 99.9% in usec."""

    bytes: int
    iterations: int
    t_min_usec: float
    t_max_usec: float
    t_typical_usec: float
    t_avg_usec: float | None = None
    t_stdev_usec: float | None = None
    t_p99_usec: float | None = None
    t_p999_usec: float | None = None


@dataclass(frozen=True)
class PerftestRecord(JsonRecord):
    test: str | None
    device: str | None
    rows: tuple[BwRow, ...]
    lat_rows: tuple[LatRow, ...] = ()
    error: str | None = None


def parse(text: str) -> PerftestRecord:
    lines = require_text(text, "perftest").splitlines()
    test = _test_name(lines)
    unit_factor = _bw_unit_factor(lines)
    lat = any(LAT_HEADER.search(line) for line in lines)
    failures = [line.strip() for line in lines if FAILURE.match(line)]
    if test is None and unit_factor is None and not lat and not failures:
        raise ParseError(f"not perftest output (first line: {first_line(text)!r})")
    rows = _bw_rows(lines, unit_factor) if unit_factor is not None else ()
    lat_rows = _lat_rows(lines) if lat else ()
    return PerftestRecord(
        test=test,
        device=_device(lines),
        rows=rows,
        lat_rows=lat_rows,
        error=failures[0] if failures and not rows and not lat_rows else None,
    )


def _test_name(lines: list[str]) -> str | None:
    for line in lines:
        banner = BANNER.match(line)
        if banner:
            kind = "bw" if banner.group("kind") == "BW" else "lat"
            return f"ib_{VERB_NAMES[banner.group('verb')]}_{kind}"
    return None


def _device(lines: list[str]) -> str | None:
    for line in lines:
        device = DEVICE.search(line)
        if device:
            return device.group("device")
    return None


def _bw_unit_factor(lines: list[str]) -> float | None:
    """Multiplier from the printed BW unit to Gbit/s, from the first result header."""
    for line in lines:
        header = BW_HEADER.search(line)
        if header:
            return MB_PER_SEC_TO_GBPS if header.group("unit") == "MB" else 1.0
    return None


def _bw_rows(lines: list[str], factor: float) -> tuple[BwRow, ...]:
    rows: dict[int, BwRow] = {}
    for line in lines:
        match = BW_ROW.match(line)
        if match is None:
            continue
        size = int(match.group(1))
        rows.setdefault(
            size,
            BwRow(
                bytes=size,
                iterations=int(match.group(2)),
                bw_peak_gbps=float(match.group(3)) * factor,
                bw_avg_gbps=float(match.group(4)) * factor,
                msg_rate_mpps=float(match.group(5)),
            ),
        )
    return tuple(rows.values())


def _lat_rows(lines: list[str]) -> tuple[LatRow, ...]:
    rows: dict[int, LatRow] = {}
    for line in lines:
        match = LAT_ROW.match(line)
        if match is None:
            continue
        size = int(match.group(1))
        times: list[float | None] = [float(v) for v in match.group(3).split()]
        times += [None] * (7 - len(times))
        rows.setdefault(size, _lat_row(size, int(match.group(2)), times))
    return tuple(rows.values())


def _lat_row(size: int, iterations: int, times: list[float | None]) -> LatRow:
    t_min, t_max, t_typical, t_avg, t_stdev, p99, p999 = times
    assert t_min is not None and t_max is not None and t_typical is not None
    return LatRow(size, iterations, t_min, t_max, t_typical, t_avg, t_stdev, p99, p999)
