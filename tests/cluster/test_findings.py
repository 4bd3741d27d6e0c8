"""Issue 13's must-shows on the simulated cluster: findings, their scope, the exclude list
and its brake, and a summary that fits a screen."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import explain, run_preflight
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster

FAST = ("-k", "not iperf3 and not ib_write_bw and not torch and not nccl")
MEMLOCK = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]


@pytest.fixture(scope="module")
def eight(sim_cluster_module: Any) -> SimCluster:
    cluster: SimCluster = sim_cluster_module(8)
    return cluster


def test_one_setting_on_every_host_is_one_cluster_finding(eight: SimCluster,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    run = run_preflight(*eight.preflight_args(), *FAST, "--expect",
                        f"memlock_min_bytes={MEMLOCK * 2}", "--bad-nodes", str(bad),
                        out=tmp_path / "run", timeout=600)
    findings = run.record["findings"]
    assert [(f["check"], f["scope"], f["count"], f["action"]) for f in findings] == [
        ("memlock", "cluster", 8, "fix-config")], explain(run)
    assert bad.read_text() == "" and run.record["bad_nodes"] == []
    assert run.rc == 1


def test_one_host_dropping_29500_is_the_only_node_to_exclude(eight: SimCluster,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    eight.iptables("node-3", 29500, "DROP")
    try:
        run = run_preflight(*eight.preflight_args(), "-k", "tcp_ports", "--bad-nodes", str(bad),
                            "--level", "full", out=tmp_path / "run", timeout=600)  # every pair
    finally:
        eight.iptables_clear("node-3")
    (finding,) = run.record["findings"]
    assert (finding["scope"], finding["nodes"], finding["action"]) == (
        "nodes", ["node-3"], "exclude"), explain(run)
    assert len(finding["pairs"]) == 7
    assert bad.read_text() == "node-3\n"
    assert "Exclude: node-3 (1 node)" in run.stdout
    assert len(run.stdout.strip().splitlines()) <= 40, run.stdout


def test_five_of_eight_bad_nodes_trip_the_brake(eight: SimCluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    for name in ("node-2", "node-4"):
        eight.iptables(name, 29500, "DROP")
    for name in ("node-6", "node-7"):
        eight.iptables(name, 29500, "REJECT")
    eight.set_mtu("node-8", 1400)
    try:
        run = run_preflight(*eight.preflight_args(), "-k", "tcp_ports or mtu_consistent",
                            "--bad-nodes", str(bad), "--level", "full", out=tmp_path / "run",
                            timeout=600)
    finally:
        for name in ("node-2", "node-4", "node-6", "node-7"):
            eight.iptables_clear(name)
        eight.set_mtu("node-8", 1500)
    scopes = {(f["reason"], f["scope"], tuple(f["nodes"])) for f in run.record["findings"]}
    assert scopes == {("tcp-29500-filtered", "nodes", ("node-2", "node-4")),
                      ("tcp-29500-refused", "nodes", ("node-6", "node-7")),
                      ("mtu-differs", "nodes", ("node-8",))}, explain(run)
    assert bad.read_text().split() == ["node-2", "node-4", "node-6", "node-7", "node-8"]
    assert run.record["exclude_advised"] is False and run.rc == 1
    assert "this looks systemic; excluding them is not advised" in run.stdout


def test_sixteen_hosts_with_a_setting_and_a_bad_node_fit_a_screen(
        sim_cluster: Any, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(16)
    cluster.iptables("node-11", 29500, "DROP")
    try:
        run = run_preflight(*cluster.preflight_args(), *FAST, "--expect",
                            f"memlock_min_bytes={MEMLOCK * 2}", out=tmp_path / "run",
                            timeout=900)
    finally:
        cluster.iptables_clear("node-11")
    lines = run.stdout.strip().splitlines()
    assert len(lines) <= 40, run.stdout
    assert any("memlock" in line and "cluster  16 nodes  node-[1-16]" in line
               for line in lines), run.stdout
    assert any("tcp_ports" in line and "nodes  1 node  node-11" in line
               for line in lines), run.stdout
    assert "Exclude: node-11 (1 node)" in lines and lines[-1].startswith("run directory:")
