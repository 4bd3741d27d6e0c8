"""Line attribution: launcher, PyTorch and NCCL prefixes, timestamps, soft wraps, file reading."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.diagnose.lines import log_files, parse_line, read_lines
from preflight.diagnose.rules import match_line
from preflight.errors import UserError

WriteLog = Callable[[str, str], Path]


def test_mpirun_prefix_and_nccl_prefix() -> None:
    raw = "[1,3]<stdout>:node-1:123:456 [2] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>"
    line = parse_line("f", 1, (raw,))
    assert (line.rank, line.host, line.pid, line.tid, line.device) == (3, "node-1", 123, 456, 2)
    assert line.body == "NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>"
    assert line.process == ("node-1", 123, 2)
    assert line.raw == (raw,)


def test_srun_label_torch_rank_and_glog_time() -> None:
    raw = (
        "12: [rank3]:[E1122 10:00:01.123456 ProcessGroupNCCL.cpp:616] [PG 0 Rank 3] "
        "Watchdog caught collective operation timeout"
    )
    line = parse_line("f", 1, (raw,))
    assert line.rank == 3  # the PyTorch rank wins over the srun task label
    assert (line.time, line.time_printed) == (None, "1122 10:00:01.123456")  # no year
    assert line.time_key == (0, 11, 22, 36001.123456)
    assert line.body.startswith("ProcessGroupNCCL.cpp:616] [PG 0 Rank 3] Watchdog")


def test_srun_label_alone_is_the_rank() -> None:
    line = parse_line("f", 1, ("7: [E ProcessGroupNCCL.cpp:737] Watchdog caught",))
    assert line.rank == 7
    assert line.time is None


def test_iso_timestamp() -> None:
    line = parse_line("f", 1, ("[2025-04-21 07:28:41 TP0] Scheduler hit an exception",))
    assert (line.time, line.time_printed) == ("2025-04-21T07:28:41", "2025-04-21 07:28:41")
    assert line.time_key == (2025, 4, 21, 7 * 3600 + 28 * 60 + 41.0)


def test_rank_inside_a_pytorch_message() -> None:
    line = parse_line("f", 1, ("[E ProcessGroupNCCL.cpp:737] [Rank 6] Watchdog caught",))
    assert line.rank == 6


def test_nccl_tests_failure_host() -> None:
    line = parse_line("f", 1, ("HCA-128: Test NCCL failure common.cu:1204 'unhandled cuda error'",))
    assert (line.host, line.pid, line.process) == ("HCA-128", None, None)


def test_plain_line_has_no_attribution() -> None:
    line = parse_line("f", 1, ("0, vendor err 129 (Recv)",))
    assert (line.rank, line.host, line.time) == (None, None, None)


def test_soft_wrapped_warn_is_joined(write_log: WriteLog) -> None:
    path = write_log(
        "wrapped.log",
        "n:1:2 [0] NCCL WARN NET/IB : Got completion from peer 10.0.0.5<1> with error 12, len\r\n"
        "0, vendor err 129 (Recv)\r\n"
        "n:1:2 [0] NCCL INFO proxy.cc:679 -> 6\r\n",
    )
    lines = list(read_lines(path))
    assert [line.lineno for line in lines] == [1, 3]
    assert lines[0].raw[1] == "0, vendor err 129 (Recv)"
    assert lines[0].body.endswith("with error 12, len 0, vendor err 129 (Recv)")


def test_wrapped_start_followed_by_an_nccl_line_is_not_joined(write_log: WriteLog) -> None:
    path = write_log(
        "cut.log",
        "n:1:2 [0] NCCL WARN NET/IB : Got completion from peer 10.0.0.5<1> with error 12, len\n"
        "n:1:2 [0] NCCL INFO proxy.cc:679 -> 6\n",
    )
    assert [len(line.raw) for line in read_lines(path)] == [1, 1]


def test_ansi_crlf_blank_lines_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "messy.log"
    path.write_bytes(b"\x1b[31mfirst\x1b[0m\r\n\r\n\xff\xfesecond\n")
    lines = list(read_lines(path))
    assert [(line.lineno, line.raw) for line in lines] == [
        (1, ("first",)),
        (3, ("\ufffd\ufffdsecond",)),
    ]


def test_directories_are_walked_for_text_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "rank1.log").write_text("x\n")
    (tmp_path / "rank0.log").write_text("x\n")
    (tmp_path / "core.bin").write_bytes(b"\x7fELF\x00\x00")
    with gzip.open(tmp_path / "old.log.gz", "wt") as handle:
        handle.write("n:1:2 [0] NCCL INFO Using network IB\n")
    files = log_files([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "a/b/rank1.log",
        "old.log.gz",
        "rank0.log",
    ]
    (gz_line,) = read_lines(tmp_path / "old.log.gz")
    assert gz_line.body == "NCCL INFO Using network IB"


def test_a_named_binary_file_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "dump"
    path.write_bytes(b"\x00\x01\nNCCL WARN Cuda failure 'out of memory'\n")
    assert log_files([path]) == [path]
    assert len(list(read_lines(path))) == 2


def test_missing_path_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or directory"):
        log_files([tmp_path / "nope.log"])


def test_an_empty_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no text files"):
        log_files([tmp_path])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_line_is_attributed_without_crashing(text: str) -> None:
    line = parse_line("f", 1, (text,))
    assert line.raw == (text,)
    match_line(line.body)
