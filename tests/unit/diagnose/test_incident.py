"""One incident: the root first, its consequences and symptoms, scopes, advice that fits.

The corpus has single-cause logs only; the cascades here are built from its line formats
(NCCL WARN lines as in nccltests166 and the NET/IB logs, PyTorch watchdog lines as in
llamafactory6269, DistBackendError wrappers as in nccl2076), as is the directory of
per-rank files that Slurm's --output=%t writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from preflight.diagnose import diagnose

WriteLog = Callable[[str, str], Path]


def _watchdog(rank: int, seq: int, ran: int = 600100, prefix: str = "") -> str:
    return (
        f"{prefix}[E1229 16:57:25.000000 ProcessGroupNCCL.cpp:616] [PG 0 (default_pg) Rank "
        f"{rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={seq}, "
        f"OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for {ran} "
        "milliseconds before timing out.\n"
    )


def _completion(host: str, peer: str, status: int, vendor: int = 81) -> str:
    return (
        f"{host}:4242:4300 [0] transport/net_ib.cc:1 NCCL WARN NET/IB : Got completion from "
        f"peer {peer}<33092> with error {status}, opcode 0, len 0, vendor err {vendor} (Send)\n"
    )


def test_the_proxy_connect_failure_is_a_consequence_of_the_closed_peer_on_another_rank(
    write_log: WriteLog,
) -> None:
    log = write_log(
        "job.log",
        "node-1:10:20 [1] proxy.cc:1 NCCL WARN [Proxy Service 3] Failed to execute operation "
        "Connect from rank 3, retcode 6\n"
        "node-1:10:21 [0] misc/socket.cc:1 NCCL WARN socketProgress: Connection closed by "
        "remote peer node-2.cluster<41234>\n",
    )
    diagnosis = diagnose([log])
    assert [(f.cause, f.role) for f in diagnosis.findings] == [
        ("connection-closed", "root"),
        ("connect-failed", "consequence"),
    ]
    root = diagnosis.root
    assert root is not None and root.peers == ("node-2.cluster:41234",)
    assert root.next == "preflight run -k 'ports or network' --hosts node-1,node-2.cluster"
    assert root.scope == "link"


def test_a_wrapper_repeating_an_ib_error_is_folded_in(write_log: WriteLog) -> None:
    log = write_log(
        "rank1.log",
        _completion("gpu-3", "10.0.0.4", 12, 129)
        + "[rank1]: torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1, "
        "unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.19.3\n"
        "[rank1]: ncclSystemError: System call (e.g. socket, malloc) or external library call "
        "failed or device error.\n"
        "[rank1]: Last error:\n"
        "[rank1]: NET/IB : Got completion from peer 10.0.0.4<33092> with error 12, opcode 0, "
        "len 0, vendor err 129 (Send)\n",
    )
    diagnosis = diagnose([log])
    (root,) = diagnosis.findings  # the wrapper lines are the root's evidence, with their rank
    assert (root.cause, root.role, root.hosts, root.ranks) == (
        "ib-completion-error", "root", ("gpu-3",), (1,),
    )  # fmt: skip
    assert root.matched_lines == 4
    assert any("DistBackendError" in line for line in root.evidence)
    assert root.detail == "IB completion error 12 (IBV_WC_RETRY_EXC_ERR), vendor err 129 on Send"


def test_one_hang_is_one_symptom_across_ranks_and_seqnums(write_log: WriteLog) -> None:
    wave = "".join(_watchdog(rank, 800 + rank % 2) for rank in range(8))
    diagnosis = diagnose([write_log("wave.log", wave)])
    (finding,) = diagnosis.findings
    assert (finding.cause, finding.ranks, finding.matched_lines) == (
        "watchdog-timeout", tuple(range(8)), 8,
    )  # fmt: skip
    assert finding.role == "root"  # nothing else to blame
    assert "stalled" not in finding.advice


def test_a_watchdog_far_past_its_timeout_was_itself_stalled(write_log: WriteLog) -> None:
    diagnosis = diagnose([write_log("late.log", _watchdog(2, 9, ran=3_600_000))])
    (finding,) = diagnosis.findings
    assert finding.advice.startswith("the watchdog ran 3600000 ms for a 600000 ms timeout")
    assert "process itself was stalled" in diagnosis.summary


def test_the_same_local_error_on_three_hosts_is_one_systemic_finding(
    write_log: WriteLog,
) -> None:
    paths = [
        write_log(f"h{n}.log", _completion(f"gpu-{n}", f"10.0.0.{n + 1}", 4)) for n in range(1, 4)
    ]
    diagnosis = diagnose(paths)
    (finding,) = diagnosis.findings
    assert finding.hosts == ("gpu-1", "gpu-2", "gpu-3")
    assert finding.scope == "systemic"
    assert finding.detail == "IB completion error 4 (IBV_WC_LOC_PROT_ERR), vendor err 81 on Send"
    assert finding.next.startswith("preflight run -k 'gpudirect or fabric' --hosts gpu-1,gpu-2")
    assert "ACS" in finding.advice and "cable" in finding.advice
    assert "the same on 3 hosts" in diagnosis.summary


def test_many_hosts_losing_one_peer_blame_the_peer(write_log: WriteLog) -> None:
    lines = "".join(
        f"gpu-{n}:1:2 [0] misc/socket.cc:1 NCCL WARN socketProgress: Connection closed by "
        f"remote peer gpu-9<5000>\n"
        for n in range(1, 4)
    )
    (finding,) = diagnose([write_log("lost.log", lines)]).findings
    assert (finding.hosts, finding.scope) == (("gpu-1", "gpu-2", "gpu-3"), "node")
    assert finding.next.endswith("--hosts gpu-1,gpu-2,gpu-3,gpu-9")


def test_modify_qp_between_init_and_rtr_gets_routing_and_gid_advice(write_log: WriteLog) -> None:
    line = (
        "gpu-1:1:2 [0] misc/ibvwrap.cc:1 NCCL WARN Call to ibv_modify_qp failed with 110 "
        "Connection timed out, on dev mlx5_0:1, curr state INIT, next state RTR, local GID "
        "index 3, local GID ::ffff:10.0.0.1, remote GID ::ffff:10.0.0.2\n"
    )
    (finding,) = diagnose([write_log("qp.log", line)]).findings
    assert finding.detail == "ibv_modify_qp failed: Connection timed out (INIT to RTR)"
    assert finding.next == "preflight run -k fabric --hosts gpu-1"
    assert "NCCL_IB_GID_INDEX" in finding.advice and "NCCL_IB_HCA" in finding.advice


def test_no_space_left_in_shared_memory_says_dev_shm(write_log: WriteLog) -> None:
    text = (
        "gpu-1:1:2 [0] misc/shmutils.cc:1 NCCL WARN Error while creating shared memory segment "
        "/dev/shm/nccl-Xh2Ck (size 9637888)\n"
        "gpu-1:1:2 [0] misc/shmutils.cc:2 NCCL WARN Call to posix_fallocate failed : No space "
        "left on device\n"
    )
    findings = diagnose([write_log("shm.log", text)]).findings
    assert findings[0].next == "preflight run -k shm_size --hosts gpu-1"
    assert "/dev/shm" in findings[0].advice and "--shm-size" in findings[0].advice


PER_RANK = {
    "0.out": _watchdog(0, 55),
    "1.out": "node-b:21:22 [0] NCCL INFO comm 0x1 rank 1 nranks 4 cudaDev 0 - Init COMPLETE\n"
    "node-b:21:30 [0] misc/socket.cc:1 NCCL WARN socketProgress: Connection closed by remote "
    "peer node-c<5555>\n"
    "node-b:21:30 [0] proxy.cc:1 NCCL WARN [Proxy Service 1] Failed to execute operation "
    "Connect from rank 1, retcode 6\n",
    "2.out": "node-c:4242:4242 [0] NCCL INFO comm 0x1 rank 2 nranks 4 cudaDev 0 - Init COMPLETE\n"
    + _completion("node-c", "10.0.0.4", 12, 129),
    "3.out": _watchdog(3, 55),
}


def _per_rank_dir(write_log: WriteLog) -> Path:
    return next(write_log(f"job/{name}", text) for name, text in PER_RANK.items()).parent


def test_a_directory_of_per_rank_logs_is_one_incident(write_log: WriteLog) -> None:
    for name, text in PER_RANK.items():
        write_log(f"job/{name}", text)
    diagnosis = diagnose([_per_rank_dir(write_log)])
    roles = [(f.cause, f.role, f.ranks, f.hosts) for f in diagnosis.findings]
    assert roles == [
        ("ib-completion-error", "root", (2,), ("node-c",)),
        ("connection-closed", "consequence", (1,), ("node-b",)),
        ("watchdog-timeout", "symptom", (0, 3), ()),
    ]
    assert diagnosis.summary.startswith("Most likely root cause: rank 2 on host node-c: IB ")


def test_cli_json_names_the_root_finding_first(write_log: WriteLog) -> None:
    for name, text in PER_RANK.items():
        write_log(f"job/{name}", text)
    command = [sys.executable, "-m", "preflight", "diagnose", "--json"]
    done = subprocess.run(
        [*command, str(_per_rank_dir(write_log))], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["root"] == data["findings"][0]
    assert (data["root"]["cause"], data["root"]["role"], data["root"]["scope"]) == (
        "ib-completion-error", "root", "link",
    )  # fmt: skip
    assert data["root_cause"] == "ib-completion-error"
    assert [f["role"] for f in data["findings"]] == ["root", "consequence", "symptom"]
    assert data["root"]["next"] == "preflight run -k fabric --hosts node-c,10.0.0.4"


def test_cli_exits_1_on_an_unrecognized_failure_and_0_on_a_healthy_log(
    write_log: WriteLog,
) -> None:
    bad = write_log("bad.log", "node-4:11:12 [0] enqueue.cc:1 NCCL WARN Something new\n")
    good = write_log("good.log", "node-4:11:12 [0] NCCL INFO Using network IB\n")
    command = [sys.executable, "-m", "preflight", "diagnose"]
    failed = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "unrecognized (root cause)" in failed.stdout and "Something new" in failed.stdout
    fine = subprocess.run([*command, str(good)], capture_output=True, text=True, timeout=120)
    assert fine.returncode == 0 and "No NCCL errors found" in fine.stdout


def test_a_wave_over_many_hosts_names_them_as_a_hostlist(write_log: WriteLog) -> None:
    """Built: pdsh-prefixed torchrun watchdog lines, one per host, 16 hosts."""
    wave = "".join(_watchdog(n, 55, prefix=f"gpu-{n:02d}: [rank{n}]:") for n in range(16))
    (finding,) = diagnose([write_log("wave.log", wave)]).findings
    assert finding.ranks == tuple(range(16))
    assert finding.next == "preflight run -k 'ports or fabric or bandwidth' --hosts 'gpu-[00-15]'"


def test_every_cause_has_advice_and_a_row_in_the_docs() -> None:
    from preflight.diagnose import CAUSES
    from preflight.diagnose.advice import CHECKS_FOR_CAUSE

    docs = (Path(__file__).resolve().parents[3] / "docs" / "troubleshooting.md").read_text()
    assert set(CHECKS_FOR_CAUSE) == set(CAUSES)
    for cause in CAUSES:
        assert f"| `{cause}`" in docs, cause


def test_a_crashed_rank_is_the_root_of_the_lost_connections(write_log: WriteLog) -> None:
    """Built: mpirun's crash report (Open MPI 4 wording) and three ranks losing the peer."""
    lost = "".join(
        f"[1,{n}]<stderr>:gpu-{n}:1:2 [0] misc/socket.cc:1 NCCL WARN socketProgress: "
        f"Connection closed by remote peer gpu-3<5000>\n"
        for n in range(3)
    )
    crash = (
        "mpirun noticed that process rank 3 with PID 4711 on node gpu-3 exited on signal 11 "
        "(Segmentation fault).\n"
    )
    diagnosis = diagnose([write_log("job.log", lost + crash)])
    assert [(f.cause, f.role, f.hosts, f.ranks) for f in diagnosis.findings] == [
        ("process-crash", "root", ("gpu-3",), (3,)),
        ("connection-closed", "consequence", ("gpu-0", "gpu-1", "gpu-2"), (0, 1, 2)),
    ]
    assert diagnosis.root is not None
    assert diagnosis.root.detail == "process crash: segmentation fault (SIGSEGV)"
    assert diagnosis.root.next == "preflight run -k 'gpu or system' --hosts gpu-3"
    assert diagnosis.findings[1].scope == "node"  # all lost the same peer: gpu-3


def test_an_abort_after_an_nccl_error_is_not_the_root(write_log: WriteLog) -> None:
    """Built: an IB error, then srun reporting the task's crash."""
    text = _completion("gpu-5", "10.0.0.4", 12, 129) + (
        "srun: error: gpu-5: task 5: Segmentation fault (core dumped)\n"
    )
    diagnosis = diagnose([write_log("job.log", text)])
    assert [(f.cause, f.role) for f in diagnosis.findings] == [
        ("ib-completion-error", "root"),
        ("process-crash", "consequence"),
    ]
    assert diagnosis.findings[1].ranks == (5,)


def test_a_stuck_watchdog_and_aborted_communicators_join_the_hang(write_log: WriteLog) -> None:
    """Built from torch 2.2+ ProcessGroupNCCL wordings (heartbeat monitor, abort)."""
    text = (
        _watchdog(1, 77, prefix="[rank1]:")
        + "[rank1]:[E1229 17:05:25.000000 ProcessGroupNCCL.cpp:1] [PG 0 Rank 1] Heartbeat "
        "monitor timed out! Process will be terminated after dumping debug info.\n"
        "[rank1]:[E1229 17:05:25.000000 ProcessGroupNCCL.cpp:1] [PG 0 Rank 1] "
        "ProcessGroupNCCL's watchdog got stuck for 480 seconds without making progress in "
        "monitoring enqueued collectives.\n"
        "[rank2]: RuntimeError: NCCL communicator was aborted on rank 2.\n"
    )
    diagnosis = diagnose([write_log("hang.log", text)])
    (finding,) = diagnosis.findings
    assert finding.cause == "watchdog-timeout"
    assert finding.ranks == (1, 2)
    assert finding.detail == (
        "ALLREDUCE (SeqNum 77), timeout 600000 ms, ran 600100 ms; watchdog stuck for 480 s"
    )
    assert finding.advice.startswith("the watchdog itself was stuck for 480 s")


ELASTIC = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
train.py FAILED
------------------------------------------------------------
Failures:
  <NO_OTHER_FAILURES>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2024-06-18_10:05:45
  host      : node-3
  rank      : 3 (local_rank: 3)
  exitcode  : {code} (pid: 4711)
  error_file: <N/A>
  traceback : {traceback}
============================================================
"""


def test_torchruns_failure_summary_names_the_crashed_host_and_rank(write_log: WriteLog) -> None:
    """Built in torch.distributed.elastic's summary format (torch 2.x)."""
    text = ELASTIC.format(code=-11, traceback="Signal 11 (SIGSEGV) received by PID 4711")
    (finding,) = diagnose([write_log("torchrun.log", text)]).findings
    assert (finding.cause, finding.hosts, finding.ranks) == ("process-crash", ("node-3",), (3,))
    assert finding.next == "preflight run -k 'gpu or system' --hosts node-3"


def test_torchruns_summary_of_a_plain_exit_is_unrecognized_on_that_host(
    write_log: WriteLog,
) -> None:
    text = ELASTIC.format(code=1, traceback="To enable traceback see: https://pytorch.org/docs")
    (finding,) = diagnose([write_log("torchrun.log", text)]).findings
    assert (finding.cause, finding.hosts, finding.ranks) == ("unrecognized", ("node-3",), (3,))
    assert finding.next == "preflight run --hosts node-3"


def test_a_peer_address_is_named_by_the_host_whose_nccl_listens_there(
    write_log: WriteLog,
) -> None:
    """Built: node-d's bootstrap line gives its address; node-c's IB error names it."""
    node_d = "node-d:9:9 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.4<0>\n"
    node_c = _completion("node-c", "10.0.0.4", 12, 129)
    diagnosis = diagnose([write_log("d.log", node_d), write_log("c.log", node_c)])
    (finding,) = diagnosis.findings
    assert finding.peer_hosts == ("node-d",)
    assert finding.next == "preflight run -k fabric --hosts node-c,node-d"
    assert "with peer 10.0.0.4:33092 (node-d)" in diagnosis.summary
