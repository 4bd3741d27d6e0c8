"""Every real log in the corpus gets the cause a human would name, with its peer, rank, host."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.diagnose import CAUSES, diagnose

from .conftest import corpus_names

Expected = tuple[
    str, tuple[str, ...], tuple[int, ...], tuple[str, ...]
]  # cause, peers, ranks, hosts

# nccl_logs file -> its findings in order (cause, peers, ranks, hosts), and the root cause.
LOGS: dict[str, tuple[list[Expected], str | None]] = {
    "aksrdma30_nccl2251_bootstrap_eth0_new_format.txt": ([], None),
    "llamafactory6269_pytorch_watchdog_reduce_scatter_base.txt": (
        [("watchdog-timeout", (), (0, 3, 4), ())],
        "watchdog-timeout",
    ),
    "mlengineering_netib_completion_error12_azure.txt": (
        [("ib-completion-error", ("10.2.0.5:33092",), (), ("node-2",))],
        "ib-completion-error",
    ),
    "mlengineering_pytorch_watchdog_timeout_desync.txt": (
        [("desync", (), (1,), ()), ("watchdog-timeout", (), (0,), ())],  # root first
        "desync",
    ),
    "mlengineering_unhandled_system_error_pytorch.txt": (
        [("system-error", (), (), ())],
        "system-error",
    ),
    "nccl2076_pytorch_remote_process_exited_conn_reset.txt": (
        [("connection-closed", ("172....:33759",), (), ())],
        "connection-closed",
    ),
    "nccl380_roce_channels_via_netib_ibv_create_cq_failed.txt": (
        [("ib-resource-error", (), (), ("spark01",))],
        "ib-resource-error",
    ),
    "nccl562_ibext_ibv_create_qp_failed_tf_bazel.txt": (
        [("ib-resource-error", (), (), ("hai-a100-3",))],
        "ib-resource-error",
    ),
    "nccl687_a100_ib_4hca_bootstrap_init_nccl2114.txt": ([], None),
    "nccltests166_socketstartconnect_conn_abort_proxy_fail.txt": (
        [
            ("connect-failed", ("10.0.0.2:45763",), (), ("ubuntu",)),
            ("connection-closed", ("node1:57557",), (), ("ubuntu",)),
        ],
        "connect-failed",
    ),
    "nccltests185_dgxh100_roce_bootstrap_netib_init.txt": ([], None),
    "nccltests252_ib_plugin_completion_error4_service_thread.txt": (
        [("ib-completion-error", ("10.0.35.1:49189",), (), ("kolyoz2",))],
        "ib-completion-error",
    ),
    "nvpeermem56_nccl247_netsocket_netib_init.txt": ([], None),
    "ofa271_pytorch_watchdog_timeout_old_format_30min.txt": (
        [("watchdog-timeout", (), (1, 2, 3, 6, 7), ())],
        "watchdog-timeout",
    ),
    "sglang5594_socket_c_socketstartconnect_python_traceback.txt": (
        [("connect-failed", ("10.0.0.82:38455",), (), ("h100-15",))],
        "connect-failed",
    ),
}

# nccl_tests file -> hosts of its cuda-error finding (None: a healthy run, no finding at all).
NCCL_TESTS: dict[str, tuple[str, ...] | None] = {
    "nccltests322_tail_multinode_test_nccl_failure_unhandled_cuda_error.txt": (
        "HCA-128",
        "HCA-108",
        "HCA-107",
    ),
    "nccltests5_p100x8_nccl1_very_old_format_unhandled_cuda_error.txt": ("node03",),
}


def test_the_tables_cover_the_corpus(corpus: Path) -> None:
    assert corpus_names("nccl_logs") == sorted(LOGS)
    assert set(NCCL_TESTS) <= set(corpus_names("nccl_tests"))


@pytest.mark.parametrize("name", sorted(LOGS))
def test_log_findings(corpus: Path, name: str) -> None:
    expected, root = LOGS[name]
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    found = [(f.cause, f.peers, f.ranks, f.hosts) for f in diagnosis.findings]
    assert found == expected
    assert (diagnosis.root.cause if diagnosis.root else None) == root
    assert diagnosis.has_errors == bool(expected)
    assert all(f.cause in CAUSES and f.evidence and f.next for f in diagnosis.findings)


@pytest.mark.parametrize("name", corpus_names("nccl_tests"))
def test_nccl_tests_outputs(corpus: Path, name: str) -> None:
    diagnosis = diagnose([corpus / "nccl_tests" / name])
    hosts = NCCL_TESTS.get(name)
    if hosts is None:
        assert diagnosis.findings == ()
        assert not diagnosis.has_errors
    else:
        assert [(f.cause, f.hosts) for f in diagnosis.findings] == [("cuda-error", hosts)]
        assert diagnosis.findings[0].next == f"preflight run -k gpu --hosts {','.join(hosts)}"


def test_completion_error_soft_wrapped_onto_two_lines(corpus: Path) -> None:
    name = "mlengineering_netib_completion_error12_azure.txt"
    (finding,) = diagnose([corpus / "nccl_logs" / name]).findings
    assert finding.detail == "IB completion error 12 (IBV_WC_RETRY_EXC_ERR), vendor err 129 on Recv"
    assert finding.evidence == (
        "node-2:5776:5902 [0] transport/net_ib.cc:1296 NCCL WARN NET/IB : Got completion from "
        "peer 10.2.0.5<33092> with error 12, opcode 0, len",
        "0, vendor err 129 (Recv)",
    )
    assert finding.next == "preflight run -k fabric --hosts node-2,10.2.0.5"


def test_completion_error_4_is_a_local_protection_error(corpus: Path) -> None:
    name = "nccltests252_ib_plugin_completion_error4_service_thread.txt"
    (finding,) = diagnose([corpus / "nccl_logs" / name]).findings
    assert finding.detail == "IB completion error 4 (IBV_WC_LOC_PROT_ERR), vendor err 81 on Send"
    assert finding.matched_lines == 1


def test_watchdog_wave_is_one_finding_with_its_figures(corpus: Path) -> None:
    name = "llamafactory6269_pytorch_watchdog_reduce_scatter_base.txt"
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    (finding,) = diagnosis.findings
    assert finding.detail == "_REDUCE_SCATTER_BASE (SeqNum 7753), timeout 600000 ms, ran 600061 ms"
    assert (finding.time, finding.time_printed) == (None, "1206 18:44:12.715298746")
    assert finding.matched_lines == 5  # 3 watchdog lines + 2 'detected by watchdog at work: 7753'
    assert diagnosis.summary == (
        "Most likely root cause: ranks 0, 3, 4 timed out in _REDUCE_SCATTER_BASE (SeqNum 7753), "
        "timeout 600000 ms, ran 600061 ms. Next: preflight run -k 'ports or fabric or bandwidth'"
    )


def test_old_watchdog_format(corpus: Path) -> None:
    name = "ofa271_pytorch_watchdog_timeout_old_format_30min.txt"
    (finding,) = diagnose([corpus / "nccl_logs" / name]).findings
    assert finding.detail == "ALLREDUCE (SeqNum 469508), timeout 1800000 ms, ran 1802212 ms"
    assert finding.time is None


def test_desync_names_the_lagging_rank_before_the_timeout(corpus: Path) -> None:
    name = "mlengineering_pytorch_watchdog_timeout_desync.txt"
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    desync = diagnosis.findings[0]
    assert desync.detail == (
        "desync at ALLREDUCE #3: [1] finished collective #2, but didn't join collective #3 "
        "(count from 1)"
    )
    assert diagnosis.summary.startswith(
        "Most likely root cause: rank 1 fell out of step (desync at ALLREDUCE #3: "
    )
    assert "first; rank 0 then timed out in ALLREDUCE (SeqNum 2), timeout 8000 ms" in (
        diagnosis.summary
    )


def test_connect_failure_before_the_lost_connection(corpus: Path) -> None:
    name = "nccltests166_socketstartconnect_conn_abort_proxy_fail.txt"
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    connect, closed = diagnosis.findings
    assert connect.detail == "connect failed: Software caused connection abort"
    assert connect.matched_lines == 2  # the WARN and its '[Proxy Service 0] ... Connect' line
    assert closed.matched_lines == 2  # 'closed by remote peer' and 'Socket recv failed'
    assert diagnosis.summary == (
        "Most likely root cause: host ubuntu could not connect to 10.0.0.2:45763 (connect failed: "
        "Software caused connection abort). Next: preflight run -k 'ports or network' "
        "--hosts ubuntu,10.0.0.2 (1 more error finding below)"
    )


def test_remote_exit_collects_the_peer_named_later(corpus: Path) -> None:
    name = "nccl2076_pytorch_remote_process_exited_conn_reset.txt"
    (finding,) = diagnose([corpus / "nccl_logs" / name]).findings
    assert finding.matched_lines == 3
    assert finding.next == "preflight run -k 'ports or network'"  # '172....' is redacted


def test_ibv_create_qp_on_three_devices_is_one_finding(corpus: Path) -> None:
    name = "nccl562_ibext_ibv_create_qp_failed_tf_bazel.txt"
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    (finding,) = diagnosis.findings
    assert (finding.detail, finding.matched_lines) == ("ibv_create_qp failed", 3)
    assert {rank.network for rank in diagnosis.ranks} == {"IBext", None}


def test_ranks_of_an_efa_nccl_tests_run(corpus: Path) -> None:
    name = "awsdoeks_t4_2node_efa_ofi_mpi_prefixed_with_nccl_info.txt"
    diagnosis = diagnose([corpus / "nccl_tests" / name])
    rows = [
        (r.rank, r.host, r.pid, r.device, r.nccl_version, r.bootstrap_interface,
         r.bootstrap_address, r.network, r.transports)
        for r in diagnosis.ranks
    ]  # fmt: skip
    assert rows == [
        (0, "test-nccl-efa-worker-0", 21, 0, "2.12.7+cuda11.4", "eth0", "10.11.13.106",
         "AWS Libfabric", ("NET/AWS Libfabric",)),
        (1, "test-nccl-efa-worker-1", 21, 0, "2.12.7+cuda11.4", "eth0", "10.11.5.31",
         "AWS Libfabric", ("NET/AWS Libfabric",)),
    ]  # fmt: skip
    assert diagnosis.socket_while_ib_expected is False


def test_ranks_of_a_roce_init(corpus: Path) -> None:
    name = "nccltests185_dgxh100_roce_bootstrap_netib_init.txt"
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    rows = [
        (r.rank, r.host, r.bootstrap_address, r.network, r.nccl_version) for r in diagnosis.ranks
    ]
    assert rows == [
        (1, "dgxh100-3", "11.1.128.128", "IB", "2.19.3+cuda12.3"),
        (None, "dgxh100-4", "11.1.128.136", "IB", "2.19.3+cuda12.3"),
    ]
    assert diagnosis.ranks[0].bootstrap_interface == "enp220s0np0"
    assert diagnosis.summary == "No NCCL errors found in 1 file (2 NCCL ranks seen, network IB)."


def test_ranks_with_channels_over_net_ib(corpus: Path) -> None:
    name = "nccl380_roce_channels_via_netib_ibv_create_cq_failed.txt"
    (rank,) = diagnose([corpus / "nccl_logs" / name]).ranks
    assert (rank.host, rank.pid, rank.bootstrap_interface, rank.bootstrap_address) == (
        "spark01", 2683, "ens192f1", "10.150.178.134",
    )  # fmt: skip
    assert (rank.network, rank.transports, rank.nccl_version) == (
        "IB",
        ("NET/IB",),
        "2.7.8+cuda11.0",
    )


def test_shm_channels(corpus: Path) -> None:
    name = "nccltests166_socketstartconnect_conn_abort_proxy_fail.txt"
    ranks = diagnose([corpus / "nccl_logs" / name]).ranks
    assert [(r.host, r.pid, r.device, r.transports) for r in ranks] == [
        ("ubuntu", 39964, 0, ()),
        ("ubuntu", 39964, 5, ("SHM",)),
    ]


def test_interleaved_pods(corpus: Path) -> None:
    name = "aksrdma30_nccl2251_bootstrap_eth0_new_format.txt"
    ranks = diagnose([corpus / "nccl_logs" / name]).ranks
    assert len(ranks) == 10
    by_host = {(r.host, r.bootstrap_address) for r in ranks if r.bootstrap_address}
    assert by_host == {
        ("nccl-tests-worker-0", "10.244.2.120"),
        ("nccl-tests-worker-1", "10.244.1.17"),
    }
    assert sum(1 for r in ranks if r.nccl_version == "2.25.1+cuda12.8") == 8


@pytest.mark.parametrize(
    "name",
    [
        "nvpeermem56_nccl247_netsocket_netib_init.txt",
        "nccl687_a100_ib_4hca_bootstrap_init_nccl2114.txt",
        "nccltests185_dgxh100_roce_bootstrap_netib_init.txt",
    ],
)
def test_ib_init_is_not_socket_transport(corpus: Path, name: str) -> None:
    """'NET/Socket : Using' in NCCL 2.4 is the bootstrap, not the data network."""
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    assert diagnosis.findings == ()
    assert diagnosis.socket_while_ib_expected is False
    assert "IB" in {rank.network for rank in diagnosis.ranks}


def test_the_whole_corpus_folder_at_once(corpus: Path) -> None:
    """Unrelated logs together: every cause is still found, and their NCCL versions differ."""
    diagnosis = diagnose([corpus / "nccl_logs"])
    assert len(diagnosis.files) == len(LOGS)
    causes = {f.cause for f in diagnosis.findings}
    per_file = {cause for expected, _ in LOGS.values() for cause, *_ in expected}
    assert causes == per_file | {"version-mismatch"}
    assert diagnosis.root is not None and diagnosis.root.cause == "ib-completion-error"


# nccl_logs file -> (cause, role, scope) per finding, root first, and the root's next command.
INCIDENTS: dict[str, tuple[list[tuple[str, str, str | None]], str]] = {
    "mlengineering_netib_completion_error12_azure.txt": (
        [("ib-completion-error", "root", "link")],  # retry exceeded: the link to the peer
        "preflight run -k fabric --hosts node-2,10.2.0.5",
    ),
    "nccltests252_ib_plugin_completion_error4_service_thread.txt": (
        [("ib-completion-error", "root", "node")],  # a local protection error: the host's own
        "preflight run -k 'gpudirect or fabric' --hosts kolyoz2",
    ),
    "mlengineering_pytorch_watchdog_timeout_desync.txt": (
        [("desync", "root", None), ("watchdog-timeout", "symptom", None)],
        "preflight run -k gpu",
    ),
    "nccltests166_socketstartconnect_conn_abort_proxy_fail.txt": (
        [("connect-failed", "root", "link"), ("connection-closed", "consequence", "link")],
        "preflight run -k 'ports or network' --hosts ubuntu,10.0.0.2",
    ),
    "nccl562_ibext_ibv_create_qp_failed_tf_bazel.txt": (
        [("ib-resource-error", "root", "node")],
        "preflight run -k 'fabric or memlock' --hosts hai-a100-3",
    ),
}


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_corpus_incidents_root_first_with_roles_and_scopes(corpus: Path, name: str) -> None:
    expected, next_command = INCIDENTS[name]
    diagnosis = diagnose([corpus / "nccl_logs" / name])
    assert [(f.cause, f.role, f.scope) for f in diagnosis.findings] == expected
    assert diagnosis.root is diagnosis.findings[0]
    assert diagnosis.root.next == next_command
    assert diagnosis.root.advice
