"""Tool-output parsers: pure functions from text to typed, JSON-ready records.

Each module exposes `parse(text) -> Record` (a frozen dataclass with `to_dict()`) and
raises `preflight.parsers.common.ParseError` (a ValueError) when the text is not that
tool's output. Parsers import nothing from preflight outside this package.

`KINDS` maps the kinds of `preflight parse KIND FILE` to their parse functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preflight.parsers import (
    fi_info,
    ibstat,
    iperf3,
    nccl_tests,
    nvidia_smi,
    perftest,
    topo,
    xid,
)
from preflight.parsers.common import ParseError

__all__ = ["KINDS", "ParseError", "parse_kind"]

KINDS: dict[str, Callable[[str], Any]] = {
    "nvidia-smi": nvidia_smi.parse,
    "topo": topo.parse,
    "xid": xid.parse,
    "ibstat": ibstat.parse,
    "fi_info": fi_info.parse,
    "iperf3": iperf3.parse,
    "perftest": perftest.parse,
    "nccl-tests": nccl_tests.parse,
}


def parse_kind(kind: str, text: str) -> dict[str, Any]:
    """Parse `text` as `kind` and return the record's JSON-ready dict.

    Raises KeyError for an unknown kind, ParseError when the text is not that output.
    """
    try:
        parser = KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise KeyError(f"unknown parser kind {kind!r} (known: {known})") from None
    record = parser(text)
    result = record.to_dict()
    assert isinstance(result, dict)
    return result
