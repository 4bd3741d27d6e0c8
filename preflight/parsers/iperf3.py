"""iperf3 results, from `-J` JSON or from the text report.

JSON: the document may follow junk (ssh warnings) and be TAB-indented; a run that failed
carries an "error" key (e.g. "error - unable to connect to server ..."), reported with
the leading "error - " removed; a JSON document without results or error after other text
(`^C`, an `iperf3: interrupt ...` line) reports that interruption as the error. Text: the
final summary lines (those ending in `sender`/`receiver`, after the `- - -` rule) give
the rates; `-P` runs use the [SUM] lines, `--bidir` runs give one run per direction
([TX-C] = client sends, reverse False; [RX-C] = client receives, reverse True).
`iperf3: error - ...` lines set "error".

Rates are Gbit/s with iperf3's decimal prefixes (1 Mbits/sec = 1e6 bit/s = 0.001 Gbit/s).
For UDP JSON from iperf3 versions that report only `end.sum`, receiver_gbps is None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from preflight.parsers.common import ParseError, first_line, require_text
from preflight.parsers.iperf3_record import Iperf3Record, IperfRun, Protocol
from preflight.parsers.iperf3_text import NO_SUMMARY, TOOL_MESSAGE, clean_error, parse_text

__all__ = ["Iperf3Record", "IperfRun", "find_json_document", "parse"]


def parse(text: str) -> Iperf3Record:
    cleaned = require_text(text, "iperf3")
    found = find_json_document(cleaned)
    if found is not None:
        document, before = found
        return _with_interruption(_from_json(document), before)
    record = parse_text(cleaned)
    if record is None:
        raise ParseError(f"not iperf3 output (first line: {first_line(cleaned)!r})")
    return record


def find_json_document(text: str) -> tuple[dict[str, Any], str] | None:
    """The first JSON object that looks like iperf3's, wherever it starts, and the text
    before it."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^(?:\s|\^C)*\{", text, re.MULTILINE):  # "^C{": echoed ^C
        try:
            document, _ = decoder.raw_decode(text, match.end() - 1)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and ({"start", "end", "error"} & document.keys()):
            return document, text[:match.end() - 1]
    return None


def _with_interruption(record: Iperf3Record, before: str) -> Iperf3Record:
    """A document with neither runs nor error: say what the text before it says."""
    if record.runs or record.error:
        return record
    said = [clean_error(m.group("message")) for m in
            (TOOL_MESSAGE.match(line.strip()) for line in before.splitlines()) if m]
    if said:
        return replace(record, error=said[-1])
    if "^C" in before:
        return replace(record, error="interrupted (^C) before iperf3 printed its results")
    return replace(record, error=NO_SUMMARY)


def _from_json(document: Mapping[str, Any]) -> Iperf3Record:
    start = document.get("start") or {}
    test = start.get("test_start") or {}
    end = document.get("end") or {}
    protocol: Protocol = "udp" if str(test.get("protocol", "TCP")).upper() == "UDP" else "tcp"
    streams = int(test.get("num_streams") or len(start.get("connected") or []) or 1)
    reverse = bool(test.get("reverse"))
    runs = []
    main = _json_run(end, "", reverse, streams, protocol)
    if main is not None:
        runs.append(main)
    bidir = _json_run(end, "_bidir_reverse", True, streams, protocol)
    if bidir is not None:
        runs.append(bidir)
    error = document.get("error")
    return Iperf3Record(runs=tuple(runs), error=clean_error(error) if error else None)


def _json_run(
    end: Mapping[str, Any], suffix: str, reverse: bool, streams: int, protocol: Protocol
) -> IperfRun | None:
    sent = end.get(f"sum_sent{suffix}")
    received = end.get(f"sum_received{suffix}")
    if sent is None and received is None:
        sent = end.get(f"sum{suffix}")  # UDP before sum_sent/sum_received existed
    if sent is None and received is None:
        return None
    return IperfRun(
        sender_gbps=_gbps(sent),
        receiver_gbps=_gbps(received),
        reverse=reverse,
        streams=streams,
        protocol=protocol,
        retransmits=(sent or {}).get("retransmits") if protocol == "tcp" else None,
    )


def _gbps(summary: Mapping[str, Any] | None) -> float | None:
    if not summary or summary.get("bits_per_second") is None:
        return None
    return float(summary["bits_per_second"]) / 1e9
