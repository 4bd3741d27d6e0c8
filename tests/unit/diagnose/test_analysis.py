"""Root cause before symptoms, time order across files, sockets, versions, other causes.

The logs here are short hand-written ones in the real tools' formats, for cases the corpus
does not have (a refusal, a socket fallback, mixed versions, a wave of timeouts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preflight.diagnose import diagnose
from preflight.diagnose.collect import MAX_EVIDENCE

WriteLog = Callable[[str, str], Path]


def _watchdog(rank: int, second: int, seq: int = 808) -> str:
    return (
        f"[rank{rank}]:[E1122 10:{second:02d}:00.000000000 ProcessGroupNCCL.cpp:616] "
        f"[PG 0 (default_pg) Rank {rank}] Watchdog caught collective operation timeout: "
        f"WorkNCCL(SeqNum={seq}, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) "
        f"ran for 600012 milliseconds before timing out.\n"
    )


NODE3 = (
    "node-3:4242:4242 [1] NCCL INFO comm 0x5581 rank 9 nranks 16 cudaDev 1 busId 1b000 "
    "- Init COMPLETE\n"
    "node-3:4242:4300 [1] misc/socket.cc:538 NCCL WARN socketProgress: Connection closed by "
    "remote peer 10.0.0.2<35540>\n"
    "node-3:4242:4300 [1] NCCL INFO misc/socket.cc:749 -> 6\n"
)


def test_the_lost_connection_is_the_cause_and_the_timeouts_the_symptom(
    write_log: WriteLog,
) -> None:
    wave = write_log("node-0.log", "".join(_watchdog(rank, 10) for rank in range(4)))
    node3 = write_log("node-3.log", NODE3)
    diagnosis = diagnose([wave, node3])
    assert [f.cause for f in diagnosis.findings] == ["connection-closed", "watchdog-timeout"]
    closed = diagnosis.findings[0]
    assert (closed.ranks, closed.hosts, closed.peers) == ((9,), ("node-3",), ("10.0.0.2:35540",))
    assert diagnosis.summary == (
        "Most likely root cause: rank 9 on host node-3 lost its connection to 10.0.0.2:35540 "
        "(connection lost: Connection closed by remote peer) first; ranks 0, 1, 2, 3 then timed "
        "out in ALLREDUCE (SeqNum 808), timeout 600000 ms, ran 600012 ms. "
        "Next: preflight run -k 'ports or network' --hosts node-3,10.0.0.2"
    )


def test_findings_follow_the_clock_not_the_file_order(write_log: WriteLog) -> None:
    late = write_log("a.log", _watchdog(0, 10))
    early = write_log(
        "b.log",
        "[W1122 10:00:00.000000000 socket.cpp:752] [c10d] The client socket has failed to "
        "connect to [node-1]:29500 (errno: 111 - Connection refused).\n",
    )
    diagnosis = diagnose([late, early])
    assert [(f.cause, f.time, f.time_printed) for f in diagnosis.findings] == [
        ("connection-refused", None, "1122 10:00:00.000000000"),  # glog prints no year
        ("watchdog-timeout", None, "1122 10:10:00.000000000"),
    ]
    refused = diagnosis.findings[0]
    assert refused.peers == ("node-1:29500",)
    assert refused.next == "preflight run -k ports --hosts node-1"
    assert diagnosis.root is refused


def test_untimed_lines_take_the_time_of_the_line_before(write_log: WriteLog) -> None:
    path = write_log(
        "mixed.log",
        _watchdog(0, 10)
        + "h:1:2 [0] misc/socket.cc:1 NCCL WARN socketStartConnect: Connect to 10.0.0.9<1234> "
        "failed : No route to host\n",
    )
    other = write_log("early.log", _watchdog(1, 5, seq=700))
    diagnosis = diagnose([path, other])
    assert [(f.cause, f.role) for f in diagnosis.findings] == [
        ("connect-failed", "root"),  # after the 10:10 line in its file
        ("watchdog-timeout", "symptom"),  # SeqNum 700 at 10:05 and 808 at 10:10: one hang
    ]
    assert diagnosis.root is diagnosis.findings[0]
    assert diagnosis.findings[0].detail == "connect failed: No route to host"
    watchdog = diagnosis.findings[1]
    assert (watchdog.ranks, watchdog.matched_lines) == ((0, 1), 2)
    assert watchdog.detail.startswith("ALLREDUCE (SeqNum 700)")  # the earliest


def _socket_init(host: str, address: str) -> str:
    return (
        f"{host}:7:7 [0] NCCL INFO NET/IB : No device found.\n"
        f"{host}:7:7 [0] NCCL INFO NET/Socket : Using [0]eth0:{address}<0>\n"
        f"{host}:7:7 [0] NCCL INFO Using network Socket\n"
        f"{host}:7:9 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[0] [send] via NET/Socket/0\n"
    )


def test_sockets_on_a_tcp_only_cluster_are_a_warning(write_log: WriteLog) -> None:
    diagnosis = diagnose([write_log("tcp.log", _socket_init("cpu-1", "10.0.0.1"))])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.severity, finding.hosts) == (
        "socket-transport",
        "warning",
        ("cpu-1",),
    )
    assert diagnosis.socket_while_ib_expected is False
    assert not diagnosis.has_errors
    assert diagnosis.root is None
    assert diagnosis.summary.startswith("No NCCL errors found in 1 file (1 NCCL rank seen")
    assert "Warning: host cpu-1: NCCL used TCP sockets" in diagnosis.summary
    assert diagnosis.ranks[0].transports == ("NET/Socket",)


def test_sockets_where_other_nodes_use_ib_are_an_error(write_log: WriteLog) -> None:
    ib = write_log(
        "gpu-1.log",
        "gpu-1:5:5 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB ib0:10.0.0.1<0>\n"
        "gpu-1:5:5 [0] NCCL INFO Using network IB\n",
    )
    socket = write_log("gpu-2.log", _socket_init("gpu-2", "10.0.0.2"))
    diagnosis = diagnose([ib, socket])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.severity, finding.hosts) == (
        "socket-transport",
        "error",
        ("gpu-2",),
    )
    assert finding.detail.endswith("although IB devices were found")
    assert "gpu-2:7:7 [0] NCCL INFO NET/IB : No device found." in finding.evidence
    assert finding.next == "preflight run -k fabric --hosts gpu-2"
    assert diagnosis.socket_while_ib_expected is True


def test_different_nccl_versions(write_log: WriteLog) -> None:
    first = write_log("a.log", "a:1:1 [0] NCCL INFO NCCL version 2.19.3+cuda12.3\n")
    second = write_log("b.log", "b:1:1 [0] NCCL INFO NCCL version 2.18.5+cuda12.2\n")
    diagnosis = diagnose([first, second])
    (finding,) = diagnosis.findings
    assert finding.cause == "version-mismatch"
    assert finding.detail == "NCCL versions differ: 2.19.3 (1 rank), 2.18.5 (1 rank)"
    assert finding.hosts == ("a", "b")
    assert finding.next == "preflight run -k software --hosts a,b"


def test_same_version_built_for_two_cudas_is_not_a_mismatch(write_log: WriteLog) -> None:
    first = write_log("a.log", "a:1:1 [0] NCCL INFO NCCL version 2.19.3+cuda12.3\n")
    second = write_log("b.log", "NCCL version 2.19.3+cuda12.2\n")
    assert diagnose([first, second]).findings == ()


@pytest.mark.parametrize(
    ("line", "cause", "detail"),
    [
        (
            "n-1:100:200 [0] NCCL WARN NET/OFI Request 0x7f completed with error. RC: 5.",
            "ofi-error",
            "libfabric/OFI error",
        ),
        (
            "n-1:100:200 [0] enqueue.cc:1 NCCL WARN Cuda failure 'an illegal memory access "
            "was encountered'",
            "cuda-error",
            "CUDA error: an illegal memory access was encountered",
        ),
        (
            "n-1:100:200 [0] shmutils.cc:1 NCCL WARN Call to posix_fallocate failed : "
            "No space left on device",
            "system-error",
            "system error: Call to posix_fallocate failed : No space left on device",
        ),
        (
            "n-1:100:200 [0] NCCL WARN NET/IB : Got async event : port error",
            "ib-completion-error",
            "IB async event: port error",
        ),
        (
            "n-1:100:200 [0] NCCL WARN Call to ibv_reg_mr failed with error Cannot allocate memory",
            "ib-resource-error",
            "ibv_reg_mr failed: Cannot allocate memory",
        ),
    ],
)
def test_other_causes(write_log: WriteLog, line: str, cause: str, detail: str) -> None:
    (finding,) = diagnose([write_log("one.log", line + "\n")]).findings
    assert (finding.cause, finding.detail, finding.hosts) == (cause, detail, ("n-1",))


def test_a_long_wave_keeps_a_bounded_evidence_list(write_log: WriteLog) -> None:
    path = write_log("wave.log", "".join(_watchdog(rank, 10) for rank in range(100)))
    (finding,) = diagnose([path]).findings
    assert finding.matched_lines == 100
    assert len(finding.evidence) == MAX_EVIDENCE
    assert finding.ranks == tuple(range(100))


def test_healthy_lines_are_not_findings(write_log: WriteLog) -> None:
    path = write_log(
        "ok.log",
        "n:1:1 [0] NCCL INFO Connected all rings\n"
        "n:1:1 [0] NCCL INFO [Service thread] Connection closed by localRank 0\n"
        "n:1:1 [0] NCCL INFO NET/OFI Selected Provider is efa (found 4 nics)\n"
        "n:1:1 [0] NCCL INFO comm 0x1 rank 0 nranks 8 cudaDev 0 busId 1000 - Destroy COMPLETE\n",
    )
    diagnosis = diagnose([path])
    assert diagnosis.findings == ()
    assert diagnosis.ranks[0].rank == 0


def test_watchdog_exception_line_alone_and_with_its_timeout(write_log: WriteLog) -> None:
    exception = (
        "[rank0]:[E1206 18:44:12.715588844 ProcessGroupNCCL.cpp:1664] [PG 1 Rank 0] Exception "
        "(either an error or timeout) detected by watchdog at work: 808, last enqueued NCCL "
        "work: 810, last completed NCCL work: 807.\n"
    )
    (alone,) = diagnose([write_log("alone.log", exception)]).findings
    assert (alone.cause, alone.detail, alone.ranks) == (
        "watchdog-timeout",
        "collective SeqNum 808",
        (0,),
    )
    (both,) = diagnose([write_log("both.log", exception + _watchdog(4, 10))]).findings
    assert both.detail == "ALLREDUCE (SeqNum 808), timeout 600000 ms, ran 600012 ms"
    assert both.ranks == (0, 4)


def test_the_same_error_in_per_rank_files_is_one_finding(write_log: WriteLog) -> None:
    paths = [
        write_log(f"rank{n}.log", f"n-{n}:1:1 [0] NCCL WARN Cuda failure 'out of memory'\n")
        for n in range(3)
    ]
    (finding,) = diagnose(paths).findings
    assert (finding.hosts, finding.matched_lines) == (("n-0", "n-1", "n-2"), 3)


def test_timeout_at_nccl_work_joins_its_watchdog_line(write_log: WriteLog) -> None:
    """Built: torch 2.1's 'Timeout at NCCL work' line before the watchdog's."""
    text = (
        "[rank4]:[E1122 10:10:00.000000000 ProcessGroupNCCL.cpp:1] [Rank 4] Timeout at NCCL "
        "work: 808, last enqueued NCCL work: 808, last completed NCCL work: 807.\n"
    ) + _watchdog(4, 10)
    (finding,) = diagnose([write_log("t.log", text)]).findings
    assert (finding.matched_lines, finding.ranks) == (2, (4,))
    assert finding.detail == "ALLREDUCE (SeqNum 808), timeout 600000 ms, ran 600012 ms"
