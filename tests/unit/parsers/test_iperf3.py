"""iperf3: -J JSON and text reports from the corpus, plus inline error/bidir/reverse cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight.parsers import ParseError, parse_kind
from preflight.parsers.iperf3 import parse

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "iperf3"

# runs as (sender_gbps, receiver_gbps, reverse, streams, protocol, retransmits)
EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "cloudpilot_iperf3_J_client_tcp_1stream_10s.json": [
        (0.46452102608410436, 0.46478628860018361, False, 1, "tcp", 0)
    ],
    "moler_iperf3_client_text_1stream_loopback.txt": [(25.0, 24.9, False, 1, "tcp", 0)],
    "chromiumos_iperf3_P4_tcp_summary_fragment.txt": [(0.0963, 0.0952, False, 4, "tcp", 0)],
    "chromiumos_iperf3_udp_bidir_txc_rxc_text.txt": [
        (0.0782, 0.0358, False, 1, "udp", None),
        (0.0383, 0.0378, True, 1, "udp", None),
    ],
}


def _runs(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("sender_gbps", "receiver_gbps", "reverse", "streams", "protocol", "retransmits")
    return [tuple(run[key] for key in keys) for run in record["runs"]]


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_runs(read_corpus: Reader, name: str) -> None:
    record = parse_kind("iperf3", read_corpus(f"{FOLDER}/{name}"))
    assert record["error"] is None
    assert _runs(record) == [
        tuple(pytest.approx(v) if isinstance(v, float) else v for v in run)
        for run in EXPECTED[name]
    ]


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


def test_json_after_ssh_warnings(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/cloudpilot_iperf3_J_client_tcp_1stream_10s.json")
    noisy = "Warning: Permanently added 'node-2' (ED25519) to the list of known hosts.\n" + text
    assert parse(noisy) == parse(text)


# iperf 3.9 -J when the server is not listening: cJSON's TAB layout, "error" key.
JSON_ERROR = """\
Warning: Permanently added 'node-2,198.18.0.3' (ED25519) to the list of known hosts.
{
\t"start":\t{
\t\t"connected":\t[],
\t\t"version":\t"iperf 3.9",
\t\t"system_info":\t"Linux node-1 5.15.0-91-generic #101-Ubuntu SMP x86_64"
\t},
\t"intervals":\t[],
\t"end":\t{
\t},
\t"error":\t"error - unable to connect to server: Connection refused"
}
"""


def test_json_error() -> None:
    assert parse(JSON_ERROR).to_dict() == {
        "runs": [],
        "error": "unable to connect to server: Connection refused",
    }


def _json(test_start: dict[str, Any], end: dict[str, Any]) -> str:
    document = {"start": {"connected": [], "test_start": test_start}, "intervals": [], "end": end}
    return json.dumps(document, indent="\t")


def _sum(bits_per_second: float, **extra: Any) -> dict[str, Any]:
    return {"start": 0, "end": 10, "seconds": 10, "bits_per_second": bits_per_second, **extra}


def test_json_bidir_gives_two_runs() -> None:
    text = _json(
        {"protocol": "TCP", "num_streams": 2, "reverse": 0, "bidir": 1},
        {
            "sum_sent": _sum(9.4e9, retransmits=12),
            "sum_received": _sum(9.3e9),
            "sum_sent_bidir_reverse": _sum(8.1e9, retransmits=3),
            "sum_received_bidir_reverse": _sum(8.0e9),
        },
    )
    assert _runs(parse(text).to_dict()) == [
        (9.4, 9.3, False, 2, "tcp", 12),
        (8.1, 8.0, True, 2, "tcp", 3),
    ]


def test_json_reverse() -> None:
    text = _json(
        {"protocol": "TCP", "num_streams": 1, "reverse": 1},
        {"sum_sent": _sum(2.5e9, retransmits=0), "sum_received": _sum(2.4e9)},
    )
    assert _runs(parse(text).to_dict()) == [(2.5, 2.4, True, 1, "tcp", 0)]


def test_json_udp_with_only_end_sum() -> None:
    text = _json(
        {"protocol": "UDP", "num_streams": 1, "reverse": 0},
        {"sum": _sum(1.05e6, jitter_ms=0.02, lost_packets=0, packets=906, lost_percent=0)},
    )
    assert _runs(parse(text).to_dict()) == [(0.00105, None, False, 1, "udp", None)]


def test_json_udp_bidir_with_plain_sums() -> None:
    text = _json(
        {"protocol": "UDP", "num_streams": 1, "reverse": 0, "bidir": 1},
        {"sum": _sum(1.0e9, lost_percent=0.5), "sum_bidir_reverse": _sum(0.9e9)},
    )
    assert _runs(parse(text).to_dict()) == [
        (1.0, None, False, 1, "udp", None),
        (0.9, None, True, 1, "udp", None),
    ]


TEXT_ERROR = "iperf3: error - unable to connect to server: Connection refused\n"

# iperf3 -c host -R (iperf 3.9 layout)
TEXT_REVERSE = """\
Connecting to host 198.18.0.3, port 5201
Reverse mode, remote host 198.18.0.3 is sending
[  5] local 198.18.0.2 port 50122 connected to 198.18.0.3 port 5201
[ ID] Interval           Transfer     Bitrate
[  5]   0.00-1.00   sec  57.2 MBytes   480 Mbits/sec
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate         Retr
[  5]   0.00-10.00  sec   574 MBytes   481 Mbits/sec   17             sender
[  5]   0.00-10.00  sec   572 MBytes   480 Mbits/sec                  receiver

iperf Done.
"""

TEXT_INTERRUPTED = """\
Connecting to host 198.18.0.3, port 5201
[  5] local 198.18.0.2 port 50124 connected to 198.18.0.3 port 5201
[ ID] Interval           Transfer     Bitrate         Retr  Cwnd
[  5]   0.00-1.00   sec  2.87 GBytes  24.6 Gbits/sec    0   3.12 MBytes
"""


def test_text_error() -> None:
    assert parse(TEXT_ERROR).to_dict() == {
        "runs": [],
        "error": "unable to connect to server: Connection refused",
    }


def test_text_reverse() -> None:
    assert _runs(parse(TEXT_REVERSE).to_dict()) == [(0.481, 0.48, True, 1, "tcp", 17)]


def test_text_without_final_summary() -> None:
    record = parse(TEXT_INTERRUPTED)
    assert record.runs == ()
    assert record.error is not None and "no final summary" in record.error


# iperf3 -c host -R, then iperf3 -c host, saved into one file (iperf 3.9 layout).
TEXT_FORWARD = """\
Connecting to host 198.18.0.3, port 5201
[  5] local 198.18.0.2 port 50130 connected to 198.18.0.3 port 5201
[ ID] Interval           Transfer     Bitrate         Retr  Cwnd
[  5]   0.00-1.00   sec  2.87 GBytes  24.6 Gbits/sec    0   3.12 MBytes
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate         Retr
[  5]   0.00-10.00  sec  28.7 GBytes  24.6 Gbits/sec    3             sender
[  5]   0.00-10.04  sec  28.7 GBytes  24.5 Gbits/sec                  receiver

iperf Done.
"""


def test_text_file_with_several_runs_gives_one_entry_per_run() -> None:
    runs = _runs(parse(TEXT_REVERSE + TEXT_FORWARD).to_dict())
    assert runs == [(0.481, 0.48, True, 1, "tcp", 17), (24.6, 24.5, False, 1, "tcp", 3)]


# iperf 3.0.11 (CentOS 7) UDP client: the summary is one line after the rule, no
# sender/receiver label; the rate is the client's (sender's).
TEXT_UDP_3_0 = """\
Connecting to host 198.18.0.3, port 5201
[  4] local 198.18.0.2 port 47414 connected to 198.18.0.3 port 5201
[ ID] Interval           Transfer     Bandwidth       Total Datagrams
[  4]   0.00-1.00   sec   120 KBytes   983 Kbits/sec  15
[  4]   1.00-2.00   sec   128 KBytes  1.05 Mbits/sec  16
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bandwidth       Jitter    Lost/Total Datagrams
[  4]   0.00-2.00   sec   248 KBytes  1.02 Mbits/sec  0.085 ms  0/31 (0%)
[  4] Sent 31 datagrams

iperf Done.
"""

# The server's side of an old TCP test: its final line without a label is the receiver's.
TEXT_TCP_SERVER_OLD = """\
-----------------------------------------------------------
Server listening on 5201
-----------------------------------------------------------
Accepted connection from 198.18.0.2, port 47412
[  5] local 198.18.0.3 port 5201 connected to 198.18.0.2 port 47413
[ ID] Interval           Transfer     Bandwidth
[  5]   0.00-1.00   sec   110 MBytes   923 Mbits/sec
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bandwidth
[  5]   0.00-10.04  sec  1.09 GBytes   933 Mbits/sec
"""


def test_older_unlabelled_summary_lines() -> None:
    assert _runs(parse(TEXT_UDP_3_0).to_dict()) == [(0.00102, None, False, 1, "udp", None)]
    assert _runs(parse(TEXT_TCP_SERVER_OLD).to_dict()) == [
        (None, 0.933, False, 1, "tcp", None)]


INTERRUPTED_JSON = """\
^C{
	"start":	{
		"connected":	[],
		"version":	"iperf 3.9"
	},
	"intervals":	[],
	"end":	{
	}
}
"""


def test_json_after_an_interruption_reports_it() -> None:
    assert parse(INTERRUPTED_JSON).to_dict() == {
        "runs": [], "error": "interrupted (^C) before iperf3 printed its results"}
    warned = "iperf3: interrupt - the client has terminated\n" + INTERRUPTED_JSON[2:]
    assert parse(warned).to_dict() == {
        "runs": [], "error": "interrupt - the client has terminated"}
    with_error = INTERRUPTED_JSON.replace(
        "\t}\n}", '\t},\n\t"error":\t"interrupt - the client has terminated"\n}')
    assert parse("^C\n" + with_error[2:]).error == "interrupt - the client has terminated"


@pytest.mark.parametrize("text", ["", "hello\n", '{"foo": 1}\n', "[ 1] not iperf\n", "\x00"])
def test_not_iperf3_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_other_tools_output_is_rejected(read_corpus: Reader) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus("perftest/superbench_ib_write_bw_loopback_8M.txt"))
