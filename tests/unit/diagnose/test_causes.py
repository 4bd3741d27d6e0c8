"""The causes the first rules missed, and `unrecognized` for failures no rule explains.

All logs here are built, one line each, in the wordings the tools print: torch's c10d
TCPStore client and server errors (socket.cpp, TCPStore.cpp, ProcessGroupNCCL's
ncclUniqueId exchange, several torch versions), NCCL's collective-mismatch WARNs from
net_ib.cc (old and new wording), net_socket.cc and the OFI plugin, and NCCL's internal
socket setup errors (socketInit's address family, bootstrap interfaces, bind).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preflight.diagnose import diagnose

WriteLog = Callable[[str, str], Path]


@pytest.mark.parametrize(
    ("line", "detail", "peers", "next_command"),
    [
        (
            "[W1229 16:47:25.333 socket.cpp:663] [c10d] The client socket has timed out after "
            "900s while trying to connect to (10.0.0.1, 29500).",
            "c10d store: connect to the store timed out",
            ("10.0.0.1:29500",),
            "preflight run -k 'ports or rendezvous' --hosts 10.0.0.1",
        ),
        (
            "torch.distributed.DistNetworkError: The client socket has failed to connect to "
            "[node-0]:29500 (errno: 110 - Connection timed out).",
            "c10d store: connect to the store timed out",
            ("node-0:29500",),
            "preflight run -k 'ports or rendezvous' --hosts node-0",
        ),
        (
            "RuntimeError: recvValue failed on SocketImpl(fd=5, addr=[node-1]:40312, "
            "remote=[node-0]:29500): Connection reset by peer",
            "c10d store: connection reset by peer",
            ("node-0:29500",),  # the remote end, not the local address
            "preflight run -k 'ports or rendezvous' --hosts node-0",
        ),
        (
            "torch.distributed.DistStoreError: Socket Timeout",
            "c10d store: timed out",
            (),
            "preflight run -k 'ports or rendezvous'",
        ),
        (
            "torch.distributed.DistStoreError: Timed out after 901 seconds waiting for clients. "
            "1/2 clients joined.",
            "c10d store: timed out waiting for the other ranks to join",
            (),
            "preflight run -k 'ports or rendezvous'",
        ),
        (
            "[E socket.cpp:957] [c10d] The server socket has failed to listen on any local "
            "network address. The server socket has failed to bind to [::]:29500 (errno: 98 - "
            "Address already in use).",
            "c10d store: the store could not listen (port in use or address not local)",
            (),  # [::]:29500 is the local bind address
            "preflight run -k 'ports or rendezvous'",
        ),
    ],
)
def test_c10d_store_wordings(
    write_log: WriteLog, line: str, detail: str, peers: tuple[str, ...], next_command: str
) -> None:
    diagnosis = diagnose([write_log("store.log", line + "\n")])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.detail, finding.peers) == ("store-error", detail, peers)
    assert finding.next == next_command
    assert "MASTER_ADDR" in finding.advice


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            "[rank14]: RuntimeError: [14] is setting up NCCL communicator and retrieving "
            "ncclUniqueId from [0] via c10d key-value store by key '0', but store->get('0') got "
            "error: Connection reset by peer",
            "c10d store: connection reset by peer",
        ),
        (
            "[rank14]: [rank14]: torch.distributed.DistBackendError: [14] is setting up NCCL "
            "communicator and retrieving ncclUniqueId from [0] via c10d key-value store by key "
            "'0', but store->get('0') got error: wait timeout after 600000ms, keys: "
            "/default_pg//0. This may indicate a possible application crash on rank 0 or a "
            "network set up issue.",
            "c10d store: timed out waiting for a key",
        ),
    ],
)
def test_the_unique_id_exchange_names_both_ranks(
    write_log: WriteLog, line: str, detail: str
) -> None:
    """Built from torch's ProcessGroupNCCL wording (torch 2.1 and 2.4+)."""
    init = (
        "node-0:7:7 [0] NCCL INFO comm 0x1 rank 0 nranks 16 cudaDev 0 busId 1000 - Init COMPLETE\n"
    )
    diagnosis = diagnose([write_log("r14.log", line + "\n"), write_log("r0.log", init)])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.detail) == ("store-error", detail)
    assert (finding.ranks, finding.peer_ranks) == ((14,), (0,))
    assert finding.next == "preflight run -k 'ports or rendezvous' --hosts node-0"
    assert "rank 14" in diagnosis.summary and "blaming rank 0" in diagnosis.summary


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            "gpu-1:100:200 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : req 0/1 tag 7 peer "
            "10.0.0.2<40000> collective mismatch error, local size 1048576 remote size 65536",
            "collective mismatch: 1048576 bytes here, 65536 from the peer",
        ),
        (
            "gpu-1:100:200 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : collective mismatch "
            "error local size 1048576 remote 65536 addr 7f00 rkey 1 seq 2/2",
            "collective mismatch: 1048576 bytes here, 65536 from the peer",
        ),
        (
            "gpu-1:100:200 [0] transport/net_socket.cc:1 NCCL WARN NET/Socket : peer "
            "10.0.0.2<40000> message truncated : receiving 1048576 bytes instead of 65536. If "
            "you believe your socket network is in healthy state, there may be a mismatch in "
            "collective sizes or environment settings (e.g. NCCL_PROTO, NCCL_ALGO) between ranks",
            "collective mismatch: 65536 bytes here, 1048576 from the peer",
        ),
        (
            "gpu-1:100:200 [0] NCCL WARN NET/OFI Message truncated: received 4096 bytes, "
            "expected 1024",
            "collective mismatch: message truncated",
        ),
    ],
)
def test_collective_mismatch_from_the_net_plugins(
    write_log: WriteLog, line: str, detail: str
) -> None:
    (finding,) = diagnose([write_log("mm.log", line + "\n")]).findings
    assert (finding.cause, finding.detail, finding.hosts) == (
        "collective-mismatch", detail, ("gpu-1",),
    )  # fmt: skip
    assert finding.next.startswith("preflight run -k software --hosts gpu-1")
    assert "TORCH_DISTRIBUTED_DEBUG=DETAIL" in finding.advice


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            "n-1:1:1 [0] misc/socket.cc:1 NCCL WARN ncclSocketInit: connecting to address  with "
            "family 59408 is neither AF_INET(2) nor AF_INET6(10)",
            "socket setup: SocketInit: connecting to address  with family 59408 is neither "
            "AF_INET(2) nor AF_INET6(10)",
        ),
        (
            "n-1:1:1 [0] bootstrap.cc:1 NCCL WARN Bootstrap : no socket interface found",
            "socket setup: no socket interface found",
        ),
        (
            "n-1:1:1 [0] misc/socket.cc:1 NCCL WARN Net : Call to bind failed : Cannot assign "
            "requested address",
            "socket setup: Call to bind failed : Cannot assign requested address",
        ),
        (
            "n-1:1:1 [0] misc/socket.cc:1 NCCL WARN NET/Socket : No usable listening interface "
            "found",
            "socket setup: No usable listening interface found",
        ),
    ],
)
def test_nccl_socket_setup_errors(write_log: WriteLog, line: str, detail: str) -> None:
    (finding,) = diagnose([write_log("sock.log", line + "\n")]).findings
    assert (finding.cause, finding.detail, finding.scope) == ("socket-setup", detail, "node")
    assert finding.next == "preflight run -k network --hosts n-1"
    assert "NCCL_SOCKET_IFNAME" in finding.advice


@pytest.mark.parametrize(
    "text",
    [
        'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n'
        "    main()\nValueError: something the rules do not know\n",
        "node-4:11:12 [0] enqueue.cc:1 NCCL WARN Something new in NCCL 2.99\n",
        "srun: error: node-4: task 3: Exited with exit code 1\n",
        "[2025-11-24 11:20:21] ERROR launcher: worker exited with code 1\n",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n",
        "slurmstepd: error: *** STEP 1234.0 ON node-3 CANCELLED AT 2025-01-01T00:00:00 ***\n",
    ],
)
def test_unrecognized_failures_exit_1_with_their_lines(write_log: WriteLog, text: str) -> None:
    diagnosis = diagnose([write_log("odd.log", "n:1:1 [0] NCCL INFO Init COMPLETE\n" + text)])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.role, finding.severity) == ("unrecognized", "root", "error")
    assert finding.evidence and all(line in text for line in finding.evidence)
    assert diagnosis.has_errors
    assert not diagnosis.summary.startswith("No NCCL errors")


def test_unrecognized_lines_are_left_out_when_a_cause_is_found(write_log: WriteLog) -> None:
    text = "n-1:100:200 [0] NCCL WARN Cuda failure 'out of memory'\nRuntimeError: something else\n"
    (finding,) = diagnose([write_log("two.log", text)]).findings
    assert finding.cause == "cuda-error"


def test_words_that_only_look_like_errors_are_not_failures(write_log: WriteLog) -> None:
    text = (
        "n:1:1 [0] NCCL INFO NET/Plugin : dlerror=libnccl-net.so: cannot open shared object\n"
        "#  Out of bounds values : 0 OK\n"
        "        Uncorrectable Error               : 0\n"  # nvidia-smi -q pasted along
        "        Volatile ECC Errors\n"
        "n:1:1 [0] NCCL INFO NCCL_IB_DISABLE set by environment to 0.\n"
    )
    diagnosis = diagnose([write_log("ok.log", text)])
    assert diagnosis.findings == ()
    assert not diagnosis.has_errors


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (
            "gpu-1:5:6 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : Got completion from peer "
            "10.1.1.2<54213> with status=12 opcode=0 len=0 vendor err 129 (Recv) localGid "
            "fe80::1 remoteGids fe80::2",
            "IB completion error 12 (IBV_WC_RETRY_EXC_ERR), vendor err 129 on Recv",
        ),
        (
            "gpu-1:5:6 [0] transport/net_ib.cc:1 NCCL WARN NET/IB: Got completion from peer "
            "10.1.1.2<54213> with status=remote access error(10) opcode=RDMA_WRITE(1) "
            "vendor_err=136  localGid ::ffff:10.1.1.1 remoteGids ::ffff:10.1.1.2 hca mlx5_3",
            "IB completion error 10 (IBV_WC_REM_ACCESS_ERR), vendor err 136, HCA mlx5_3",
        ),
    ],
)
def test_completion_errors_in_newer_nccl_wordings(
    write_log: WriteLog, line: str, detail: str
) -> None:
    """Built from NCCL 2.19 and 2.23+ net_ib.cc WARN formats."""
    (finding,) = diagnose([write_log("ib.log", line + "\n")]).findings
    assert (finding.cause, finding.detail, finding.peers) == (
        "ib-completion-error", detail, ("10.1.1.2:54213",),
    )  # fmt: skip


def test_a_full_dev_shm_in_nccl_2_1x_wording(write_log: WriteLog) -> None:
    """Built from NCCL's shmutils.cc WARNs."""
    text = (
        "gpu-1:5:6 [0] misc/shmutils.cc:72 NCCL WARN Error: failed to extend "
        "/dev/shm/nccl-c0qG7W to 9637892 bytes\n"
        "gpu-1:5:6 [0] misc/shmutils.cc:113 NCCL WARN Error while creating shared memory "
        "segment /dev/shm/nccl-c0qG7W (size 9637888)\n"
    )
    (finding,) = diagnose([write_log("shm.log", text)]).findings
    assert (finding.cause, finding.matched_lines) == ("system-error", 2)
    assert finding.next == "preflight run -k shm_size --hosts gpu-1"
    assert "/dev/shm" in finding.advice


@pytest.mark.parametrize(
    ("line", "cause", "detail"),
    [
        (
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "cuda-error",
            "CUDA error: CUDA out of memory",
        ),
        (
            "slurmstepd: error: Detected 1 oom_kill event in StepId=1234.0. Some of the step "
            "tasks have been OOM Killed.",
            "process-crash",
            "process crash: killed by the kernel's OOM killer",
        ),
        (
            "[1,3]<stderr>:[node-3:4711] *** Process received signal *** Signal: Bus error (7)",
            "process-crash",
            "process crash: bus error (SIGBUS)",
        ),
    ],
)
def test_out_of_memory_and_crashes(write_log: WriteLog, line: str, cause: str, detail: str) -> None:
    (finding,) = diagnose([write_log("oom.log", line + "\n")]).findings
    assert (finding.cause, finding.detail) == (cause, detail)
