"""Issue 14's must-shows: each level on the simulated cluster; at standard with one random
peer a host dropping TCP 29500 is found, and a host whose ruleset alone differs (a rule
on a port no probe uses) is the odd node out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight.schedule import reach_targets
from tests.cluster.helpers import Run, explain, idle_runner, measurement, run_preflight
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster

UNUSED_PORT = 5555  # no probe connects here: only the fingerprint sees this rule


@pytest.fixture(scope="module")
def sixteen(sim_cluster_module: Any) -> SimCluster:
    cluster: SimCluster = sim_cluster_module(16)
    return cluster


@pytest.fixture
def run_on(sixteen: SimCluster, tmp_path: Path) -> Iterator[Any]:
    yield from idle_runner(sixteen, tmp_path / "run", timeout=900)


def measured_pairs(run: Run, name: str) -> set[tuple[str, str]]:
    return {(k.split("|")[0], k.split("|")[1]) for k in measurement(run, name)["pairs"]}


def test_standard_with_one_peer_finds_a_dropped_port_and_the_odd_ruleset(
        sixteen: SimCluster, run_on: Any) -> None:
    sixteen.iptables("node-5", 29500, "DROP")
    sixteen.iptables("node-11", UNUSED_PORT, "DROP")
    try:
        run = run_on("--level", "standard", "--expect", "sample_peers=1")
    finally:
        sixteen.iptables_clear("node-5")
        sixteen.iptables_clear("node-11")
    assert run.rc == 1 and run.record["level"] == "standard", explain(run)
    ports = measurement(run, "ports")
    assert ports["schedule"]["peers"] == 1 and ports["schedule"]["most_targets"] <= 4
    into_five = {pair for pair in measured_pairs(run, "ports") if pair[1] == "node-5"}
    assert {("node-4", "node-5"), ("node-6", "node-5")} <= into_five
    closed = {tuple(k.split("|")) for k, v in ports["pairs"].items() if v["29500"][0] != "open"}
    assert closed == into_five, explain(run)
    assert all(v["22"][0] == "open" for v in ports["pairs"].values())
    assert {r["check"] for r in run.bad()} == {"tcp_ports", "firewall_consistent"}, explain(run)
    assert all("node-5" in r["message"] for r in run.of("tcp_ports") if r["status"] == "fail")
    odd = {r["node"]: r for r in run.of("firewall_consistent") if r["status"] != "pass"}
    assert set(odd) == {"node-5", "node-11"}, explain(run)
    assert f"--dport {UNUSED_PORT} -j DROP" in odd["node-11"]["message"]
    assert odd["node-11"]["reason"] == "firewall-differs"
    assert len(measured_pairs(run, "ssh_mesh")) < 16 * 15 // 2  # sampled, not every pair
    assert set(run.record["phases"]) >= {"gather", "reach", "bandwidth", "burst", "collectives"}


def test_quick_reaches_master_and_ring_only(sixteen: SimCluster, run_on: Any) -> None:
    run = run_on("--level", "quick")
    assert run.rc == 0 and run.bad() == [], explain(run)
    assert run.record["level"] == "quick"
    def expected(ssh: bool) -> set[tuple[str, str]]:
        return {(src, dst) for src, dsts in
                reach_targets(sixteen.names, "quick", ssh=ssh).items() for dst in dsts}
    assert measured_pairs(run, "ports") == expected(ssh=False)
    assert measured_pairs(run, "ssh_mesh") == expected(ssh=True)
    assert len(expected(ssh=True)) == 16  # the ring: every sshd and client once
    checks = {r["check"] for r in run.results}
    assert {"tcp_ports", "ssh_mesh", "gpu_count"} <= checks
    assert not checks & {"path_mtu", "iperf3_bandwidth", "torch_allreduce",
                         "firewall_consistent"}, checks
    assert set(run.record["phases"]) == {"gather", "reach", "burst"}


def test_full_takes_every_pair_and_the_bandwidth_mesh(sim_cluster: Any, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(4)
    run = run_preflight(*cluster.preflight_args(), "--level", "full", out=tmp_path / "run",
                        timeout=900)
    assert run.record["level"] == "full"
    every = {(a, b) for a in cluster.names for b in cluster.names if a != b}
    for probe in ("ports", "ssh_mesh", "path_mtu"):
        assert measured_pairs(run, probe) == every, probe
    assert measurement(run, "iperf3")["rounds"] == 3
    assert run.of("multi_node"), "nccl-tests run at full"
    assert [r for r in run.bad() if r["family"] != "nccl_tests"] == [], explain(run)
