"""perftest: corpus bandwidth logs (incl. interleaved server+client), Gb/s and latency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preflight.parsers import ParseError, parse_kind
from preflight.parsers.perftest import MB_PER_SEC_TO_GBPS, parse

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "perftest"


def gbps(mb_per_sec: float) -> float:
    """perftest MB/sec (2^20 bytes) -> Gbit/s."""
    return mb_per_sec * 1048576 * 8 / 1e9


EXPECTED = {
    "superbench_ib_write_bw_loopback_8M.txt": ("ib_write_bw", "ib0", 1),
    "superbench_ib_write_bw_loopback_allsizes_interleaved.txt": ("ib_write_bw", "ib0", 23),
    "pib4_ib_atomic_bw_cmp_and_swap_mbsec.txt": ("ib_atomic_bw", "pib_1", 1),
}


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) <= set(EXPECTED)


def test_conversion_factor() -> None:
    assert MB_PER_SEC_TO_GBPS == 1048576 * 8 / 1e9 == 0.008388608


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_key_figures(read_corpus: Reader, name: str) -> None:
    record = parse_kind("perftest", read_corpus(f"{FOLDER}/{name}"))
    test, device, rows = EXPECTED[name]
    assert (record["test"], record["device"], len(record["rows"])) == (test, device, rows)
    sizes = [row["bytes"] for row in record["rows"]]
    assert len(sizes) == len(set(sizes))


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


def test_8m_loopback_client_then_server(read_corpus: Reader) -> None:
    record = parse(read_corpus(f"{FOLDER}/superbench_ib_write_bw_loopback_8M.txt"))
    (row,) = record.rows
    assert (row.bytes, row.iterations, row.msg_rate_mpps) == (8388608, 20000, 0.003007)
    assert row.bw_avg_gbps == pytest.approx(gbps(24056.72))
    assert row.bw_peak_gbps == pytest.approx(gbps(24056.74))
    assert row.bw_avg_gbps == pytest.approx(201.8024, abs=1e-4)


def test_all_sizes_interleaved_counts_each_size_once(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/superbench_ib_write_bw_loopback_allsizes_interleaved.txt")
    rows = parse(text).rows
    assert [row.bytes for row in rows] == [2**n for n in range(1, 24)]
    best = max(rows, key=lambda row: row.bw_avg_gbps)
    assert best.bytes == 4194304
    assert best.bw_avg_gbps == pytest.approx(gbps(23277.91))
    assert rows[-1].bw_avg_gbps == pytest.approx(gbps(23240.68))
    assert rows[0].to_dict() == {
        "bytes": 2,
        "iterations": 2000,
        "bw_peak_gbps": pytest.approx(gbps(5.32)),
        "bw_avg_gbps": pytest.approx(gbps(5.30)),
        "msg_rate_mpps": 2.778732,
    }


def test_atomic_cmp_and_swap(read_corpus: Reader) -> None:
    (row,) = parse(read_corpus(f"{FOLDER}/pib4_ib_atomic_bw_cmp_and_swap_mbsec.txt")).rows
    assert (row.bytes, row.iterations, row.msg_rate_mpps) == (8, 1000, 0.219031)
    assert row.bw_avg_gbps == pytest.approx(gbps(1.67))


# perftest's own formats (perftest_parameters.h): RESULT_FMT_G header and REPORT_FMT rows.
RESULT_LINE = "-" * 87
# The C formats with their l length modifiers dropped for Python's % operator.
REPORT_FMT = " %-7d    %-10d       %-7.2f            %-7.2f\t\t   %-7.6f"
REPORT_GBITS = "\n".join(
    [
        RESULT_LINE,
        "                    RDMA_Read BW Test",
        " Dual-port       : OFF\t\tDevice         : mlx5_0",
        " Number of qps   : 1\t\tTransport type : IB",
        " Connection type : RC\t\tUsing SRQ      : OFF",
        RESULT_LINE,
        " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]",
        REPORT_FMT % (65536, 5000, 97.65, 97.62, 0.186192),
        REPORT_FMT % (1048576, 5000, 98.11, 98.10, 0.011695),
        RESULT_LINE,
    ]
)


def test_report_gbits_is_taken_as_is() -> None:
    record = parse(REPORT_GBITS).to_dict()
    assert (record["test"], record["device"]) == ("ib_read_bw", "mlx5_0")
    assert record["rows"] == [
        {
            "bytes": 65536,
            "iterations": 5000,
            "bw_peak_gbps": 97.65,
            "bw_avg_gbps": 97.62,
            "msg_rate_mpps": 0.186192,
        },
        {
            "bytes": 1048576,
            "iterations": 5000,
            "bw_peak_gbps": 98.11,
            "bw_avg_gbps": 98.10,
            "msg_rate_mpps": 0.011695,
        },
    ]


REPORT_FMT_LAT = (
    " %-7d %d          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f"
    " \t\t%-7.2f"
)
WRITE_LAT = "\n".join(
    [
        RESULT_LINE,
        "                    RDMA_Write Latency Test",
        " Dual-port       : OFF\t\tDevice         : mlx5_1",
        RESULT_LINE,
        " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]"
        "    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ",
        REPORT_FMT_LAT % (2, 1000, 1.02, 4.51, 1.05, 1.06, 0.09, 1.21, 4.51),
        RESULT_LINE,
    ]
)


def test_write_latency() -> None:
    record = parse(WRITE_LAT)
    assert (record.test, record.device, record.rows) == ("ib_write_lat", "mlx5_1", ())
    assert record.lat_rows[0].to_dict() == {
        "bytes": 2,
        "iterations": 1000,
        "t_min_usec": 1.02,
        "t_max_usec": 4.51,
        "t_typical_usec": 1.05,
        "t_avg_usec": 1.06,
        "t_stdev_usec": 0.09,
        "t_p99_usec": 1.21,
        "t_p999_usec": 4.51,
    }


@pytest.mark.parametrize(
    ("banner", "name"),
    [
        ("Send BW Test", "ib_send_bw"),
        ("RDMA_Write Bidirectional BW Test", "ib_write_bw"),
        ("Atomic FETCH_AND_ADD BW Test", "ib_atomic_bw"),
        ("Send Latency Test", "ib_send_lat"),
    ],
)
def test_banner_names(banner: str, name: str) -> None:
    assert parse(f"{RESULT_LINE}\n                    {banner}\n").test == name


# perftest 4.5 client whose server went away before the key exchange (banner, then stderr).
CLIENT_NO_REMOTE = """\
---------------------------------------------------------------------------------------
                    RDMA_Write BW Test
 Dual-port       : OFF\t\tDevice         : mlx5_0
 Number of qps   : 1\t\tTransport type : IB
 Connection type : RC\t\tUsing SRQ      : OFF
 TX depth        : 128
 CQ Moderation   : 1
 Mtu             : 4096[B]
 Link type       : IB
 Max inline data : 0[B]
 rdma_cm QPs\t : OFF
 Data ex. method : Ethernet
---------------------------------------------------------------------------------------
 local address: LID 0x05 QPN 0x0048 PSN 0x84d0c3 RKey 0x1fff00 VAddr 0x007f3f6c5a4000
ethernet_read_keys: Couldn't read remote address
 Unable to read to socket/rdma_cm
 Failed to exchange data between server and clients
"""
ONLY_ERRORS = {
    "no-server": ("Couldn't connect to 198.18.0.3:18515\n"
                  "Unable to open file descriptor for socket connection Unable to init the "
                  "socket connection\n", "Couldn't connect to 198.18.0.3:18515"),
    "no-device": (" IB device mlx5_9 not found\n Unable to find the Infiniband/RoCE device\n",
                  "IB device mlx5_9 not found"),
}


def test_a_run_that_failed_reports_its_error() -> None:
    record = parse(CLIENT_NO_REMOTE)
    assert (record.test, record.device, record.rows) == ("ib_write_bw", "mlx5_0", ())
    assert record.error == "ethernet_read_keys: Couldn't read remote address"


@pytest.mark.parametrize("case", sorted(ONLY_ERRORS))
def test_an_output_that_is_only_an_error_reports_it(case: str) -> None:
    text, error = ONLY_ERRORS[case]
    assert parse(text).to_dict() == {"test": None, "device": None, "rows": [], "lat_rows": [],
                                     "error": error}


def test_results_have_no_error(read_corpus: Reader) -> None:
    assert parse(read_corpus(f"{FOLDER}/superbench_ib_write_bw_loopback_8M.txt")).error is None


@pytest.mark.parametrize("text", ["", RESULT_LINE, "8 1000 1.70 1.67 0.219031\n", "\x00",
                                  "Unable to connect\n"])
def test_not_perftest_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_other_tools_output_is_rejected(read_corpus: Reader) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus("iperf3/moler_iperf3_client_text_1stream_loopback.txt"))
