"""Issue 2's must-shows: real SSH to a 4-host simulated cluster, faults injected for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.results import Result, results_per_node
from tests.cluster.helpers import WITHOUT_CROSS_NODE, explain, run_preflight

pytestmark = pytest.mark.cluster

# A hung tool must end at its deadline; keep it short so the test is quick.
FAST = ("--expect", "subprobe_timeout_s=3")
# A run whose fault cannot change what the bandwidth and torch probes do leaves them out, as
# the fault matrix's rows do (FaultCase.probes gives the why of each fault): a node-local
# fault (a hung nvidia-smi, a driver version), or a node the head's SSH transport refuses
# (sshd stopped, our key or its host key unknown or changed). Every probe leaves such a node
# out alike, which the matrix's host-down row shows with every probe, and they only reuse the
# transport's connections (with the default ssh launcher, launcher_ready skips). One run
# keeps them all: a whole default run on a host key recorded under accept-new.
REACH_ONLY = ("-k", WITHOUT_CROSS_NODE)


def test_healthy_cluster_passes(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    run = run_preflight(*cluster.preflight_args(), out=tmp_path / "run")
    assert run.rc == 0, explain(run)
    assert run.bad() == [], explain(run)
    record = run.record
    assert record["verdict"] == "GO"
    assert record["hosts"] == ["node-1", "node-2", "node-3", "node-4"]
    assert {r["node"] for r in run.of("ssh_reachable") if r["status"] == "pass"} == set(
        record["hosts"])
    for artefact in ("facts.json", "results.json", "junit.xml", "report.html"):
        assert (tmp_path / "run" / artefact).is_file(), artefact
    # issue 13: a default run (bandwidth on the ring, torch, ib_write_bw) stays within 40
    # results per node; the count does not grow with N (tests/unit/test_applies.py)
    counted = results_per_node(Result.from_dict(r) for r in record["results"])
    assert set(counted) >= set(record["hosts"]) and max(counted.values()) <= 40, counted


def test_stopped_sshd_blocks_only_that_host(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.stop_sshd("node-3")
    run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, out=tmp_path / "run")
    assert run.rc == 1, explain(run)
    bad = run.bad()
    assert run.only_involves("node-3"), explain(run)
    reach = run.of("ssh_reachable", "node-3")[0]
    assert reach["status"] == "fail" and "connection-refused" in reach["message"]
    others = [r for r in bad if r["check"] != "ssh_reachable"]
    assert others and {r["status"] for r in others} == {"blocked"}, explain(run)


def test_missing_client_key_is_auth_failure(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.drop_client_key("node-2")
    run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, out=tmp_path / "run")
    assert run.rc == 1
    reach = run.of("ssh_reachable", "node-2")[0]
    assert reach["status"] == "fail" and "auth-denied" in reach["message"], explain(run)
    assert run.only_involves("node-2"), explain(run)


def test_unknown_host_key_rejected_unless_accept_new(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.forget_host_key("node-4")
    run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, out=tmp_path / "rejected")
    reach = run.of("ssh_reachable", "node-4")[0]
    assert reach["status"] == "fail" and "host-key-unknown" in reach["message"], explain(run)
    assert run.only_involves("node-4"), explain(run)

    accepted = run_preflight(*cluster.preflight_args(), "--accept-new-host-keys",
                             out=tmp_path / "accepted")  # every probe
    assert accepted.rc == 0, explain(accepted)
    known = cluster.known_hosts.read_text()
    assert cluster.address("node-4") in known  # recorded, like OpenSSH's accept-new
    again = run_preflight(*cluster.preflight_args(), *REACH_ONLY, out=tmp_path / "again")
    assert again.rc == 0, explain(again)


def test_missing_known_hosts_file_is_created_under_accept_new(sim_cluster,
                                                             tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    fresh = tmp_path / "new" / "known_hosts"
    args = cluster.preflight_args()
    args[args.index("--known-hosts") + 1] = str(fresh)
    refused = run_preflight(*args, out=tmp_path / "refused")
    assert refused.rc == 2 and "no such file" in refused.stderr, refused.stderr
    accepted = run_preflight(*args, *REACH_ONLY, "--accept-new-host-keys",
                             out=tmp_path / "accepted")
    assert accepted.rc == 0, explain(accepted)
    known = fresh.read_text()
    assert all(cluster.address(name) in known for name in cluster.names), known
    assert fresh.stat().st_mode & 0o777 == 0o600


def test_changed_host_key_always_fails(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.change_host_key("node-1")
    for flags in ((), ("--accept-new-host-keys",)):
        run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, *flags,
                            out=tmp_path / f"run{len(flags)}")
        reach = run.of("ssh_reachable", "node-1")[0]
        assert reach["status"] == "fail" and "host-key-changed" in reach["message"], explain(run)
        assert run.only_involves("node-1"), explain(run)


def test_hung_command_ends_at_its_deadline(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.hang("node-2", "nvidia-smi")
    run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, *FAST, out=tmp_path / "run",
                        timeout=120)
    assert run.rc == 1, explain(run)
    bad = run.bad()
    assert run.only_involves("node-2"), explain(run)
    assert any("timed out" in r["message"] for r in bad), explain(run)
    assert {r["status"] for r in bad} == {"error"}, explain(run)
    assert cluster.processes_left("node-2") == []  # the hung tool was killed, nothing left


def test_driver_version_odd_one_out(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.update_spec("node-3", driver_version="535.86.10")
    run = run_preflight(*cluster.preflight_args(), *REACH_ONLY, out=tmp_path / "run")
    assert run.rc == 1
    assert run.bad_summary() == {
        ("version_consistent", "node-3", "fail")}, explain(run)
    result = run.bad()[0]
    assert "535.86.10" in result["message"] and "550.90.07" in result["message"]
    assert result["measured"] == "535.86.10" and result["expected"] == "550.90.07"


def test_hostile_hostfile_name_is_never_executed(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(2)
    marker = tmp_path / "pwned"
    hostile = [f"node1;touch${{IFS}}{marker}", f"$(touch${{IFS}}{marker})",
               f"`touch${{IFS}}{marker}`", f"node2|touch${{IFS}}{marker}&"]
    hostfile = tmp_path / "hosts"
    hostfile.write_text(cluster.hostfile.read_text() + "".join(f"{h}\n" for h in hostile))
    args = cluster.preflight_args()
    args[args.index("--hostfile") + 1] = str(hostfile)
    run = run_preflight(*args, out=tmp_path / "run")
    assert not marker.exists()
    failed = {r["node"] for r in run.of("ssh_reachable") if r["status"] == "fail"}
    assert failed == set(hostile), explain(run)
    assert run.only_involves(*hostile), explain(run)
