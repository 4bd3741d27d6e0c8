"""Issue 4's must-shows: pairwise probes on the simulated cluster, faults injected for real.

Each fault test asserts the exact set of bad results (the fault on the right pairs or node,
and nothing else), most of them over the full default run. The fault tests share one
4-host cluster and undo their fault when they end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight.pair_params import scheduled_pairs
from tests.cluster.helpers import (
    WITHOUT_COLLECTIVES,
    Run,
    explain,
    idle_runner,
    measurement,
    run_preflight,
)
from tests.sim.cluster import SimCluster
from tests.sim.spec import HostSpec

pytestmark = pytest.mark.cluster

FOUR = ["node-1", "node-2", "node-3", "node-4"]
PAIRWISE_MATRICES = {"ports:22", "ports:29500", "ssh_mesh", "path_mtu", "iperf3", "ib_write_bw"}


# The pairwise faults here leave the torch job out: each costs 4 `import torch` and the job's
# steps, and the fault matrix's network rows (firewall, one-way, MTU, lossy, dying host) run
# it under such faults. A healthy whole run, torch included, is test_foundation's.
PAIRWISE_ONLY = ("-k", WITHOUT_COLLECTIVES)


@pytest.fixture(scope="module")
def four(sim_cluster_module: Any) -> SimCluster:
    cluster: SimCluster = sim_cluster_module(4)
    return cluster


@pytest.fixture
def run_on(four: SimCluster, tmp_path: Path) -> Iterator[Any]:
    """run_on(*args): a preflight run on the shared cluster; its hosts must be idle after."""
    yield from idle_runner(four, tmp_path / "run", "--pairs", "mesh", timeout=420)


def into(node: str, nodes: list[str] = FOUR) -> list[str]:
    return [f"{other}->{node}" for other in nodes if other != node]


def touching(node: str, nodes: list[str] = FOUR) -> list[str]:
    return [*into(node, nodes), *(f"{node}->{other}" for other in nodes if other != node)]


def failing(check: str, subjects: list[str]) -> set[tuple[str, str, str]]:
    return {(check, subject, "fail") for subject in subjects}


def messages(run: Run, check: str) -> list[str]:
    return [r["message"] for r in run.bad() if r["check"] == check]


# Healthy ---------------------------------------------------------------------------------


def test_healthy_six_hosts_pass_every_pairwise_probe(sim_cluster: Any, tmp_path: Path) -> None:
    cluster = sim_cluster(6)
    run = run_preflight(*cluster.preflight_args(), "--pairs", "mesh", *PAIRWISE_ONLY,
                        out=tmp_path / "run", timeout=420)
    assert run.rc == 0 and run.bad() == [], explain(run)
    assert not run.of("torch_allreduce")
    for check in ("tcp_ports", "ssh_mesh", "path_mtu"):  # one result per source node
        assert [r["status"] for r in run.of(check)] == ["pass"] * 6, check
    for check in ("iperf3_bandwidth", "ib_write_bw"):  # one per measured pair: the mesh
        assert [r["status"] for r in run.of(check)] == ["pass"] * 30, check
    matrices = run.record["matrices"]
    assert set(matrices) >= PAIRWISE_MATRICES
    for name in PAIRWISE_MATRICES:  # the reach probes' pairs are sampled at standard
        cells = [c["status"] for c in matrices[name]["cells"]]
        assert cells and set(cells) == {"pass"}, name
        assert len(cells) == 30 or not name.startswith(("iperf3", "ib_write_bw")), name
    for probe in ("iperf3", "ib_write_bw"):
        assert measurement(run, probe)["rounds"] == 5  # N-1 rounds for a mesh of 6
    ib = measurement(run, "ib_write_bw")["pairs"]
    assert {len(entry["rails"]) for entry in ib.values()} == {8}
    assert {h: cluster.processes_left(h) for h in cluster.names} == {h: [] for h in cluster.names}


# Ports -----------------------------------------------------------------------------------


def test_drop_on_29500_filters_exactly_the_pairs_into_that_host(four: SimCluster,
                                                                run_on: Any) -> None:
    four.iptables("node-3", 29500, "DROP")
    try:
        run = run_on(*PAIRWISE_ONLY)
    finally:
        four.iptables_clear("node-3")
    assert run.rc == 1
    sources = [n for n in FOUR if n != "node-3"]
    assert run.bad_summary() == failing("tcp_ports", sources) | {
        ("firewall_consistent", "node-3", "fail")}, explain(run)  # the odd ruleset too
    for message in messages(run, "tcp_ports"):
        assert message.endswith(": TCP 29500 (MASTER_PORT) filtered to node-3 (expected open)")
    findings = {(f["check"], f["scope"], tuple(f["nodes"]), f["reason"])
                for f in run.record["findings"]}
    assert findings == {("tcp_ports", "nodes", ("node-3",), "tcp-29500-filtered"),
                        ("firewall_consistent", "nodes", ("node-3",), "firewall-differs")}
    cells = run.record["matrices"]["ports:29500"]["cells"]
    assert {(c["src"], c["dst"]) for c in cells if c["value"] != "open"} == {
        (src, "node-3") for src in FOUR if src != "node-3"}
    assert all(c["value"] == "open" for c in run.record["matrices"]["ports:22"]["cells"])


def test_reject_on_29500_is_refused(four: SimCluster, run_on: Any) -> None:
    four.iptables("node-2", 29500, "REJECT")
    try:
        run = run_on("-k", "tcp_ports")
    finally:
        four.iptables_clear("node-2")
    assert run.bad_summary() == failing("tcp_ports", [n for n in FOUR if n != "node-2"]), \
        explain(run)
    for message in messages(run, "tcp_ports"):
        assert message.endswith(": TCP 29500 (MASTER_PORT) refused to node-2 (expected open)")


# Bandwidth -------------------------------------------------------------------------------

# Far below a healthy link here even when the suite's other workers load the cores (healthy
# pairs then measure ~1 Gbit/s, and the sim's floor is a quarter of the median).
SHAPED = "100mbit"


def test_shaped_host_is_the_slow_node_not_its_partners(four: SimCluster, run_on: Any) -> None:
    four.shape("node-4", SHAPED)
    try:
        run = run_on(*PAIRWISE_ONLY)
    finally:
        four.shape("node-4", None)
    expected = failing("iperf3_bandwidth", touching("node-4"))
    expected |= failing("bandwidth_isolation", ["node-4"])
    assert run.bad_summary() == expected, explain(run)
    suspects = run.record["matrices"]["suspects"]  # judged at check time, not recorded
    assert suspects["nodes"] == ["node-4"] and suspects["links"] == []
    assert all(m.endswith("; node-4 is the slow node") for m in messages(run, "iperf3_bandwidth"))
    (isolation,) = messages(run, "bandwidth_isolation")
    assert isolation.startswith("node-4 (3/3 pairs slow, retested against 2 healthy nodes)")


def test_filtered_tool_ports_fail_fast_with_the_port_and_the_dropping_host(
        four: SimCluster, run_on: Any) -> None:
    for port in (5201, *range(18515, 18523)):  # iperf3, and ib_write_bw's eight rails
        four.iptables("node-3", port, "DROP")
    try:
        run = run_on("-k", "iperf3 or ib_write_bw or isolation")
    finally:
        four.iptables_clear("node-3")
    expected = failing("iperf3_bandwidth", into("node-3")) | failing("ib_write_bw", into("node-3"))
    assert run.bad_summary() == expected, explain(run)  # isolation: node-3's sends measured
    for message in messages(run, "iperf3_bandwidth"):
        assert message.endswith("-> node-3: iperf3 could not connect: TCP 5201 filtered into "
                                "node-3"), message
    for message in messages(run, "ib_write_bw"):
        assert "ib_write_bw could not connect: TCP 185" in message, message
    hints = {r["hint"] for r in run.bad()}
    assert hints == {"a firewall drops the traffic: check the security group / ufw / iptables "
                     "INPUT rules on node-3"}, hints
    iperf = measurement(run, "iperf3")["pairs"]["node-1|node-3"]
    assert iperf["connect"]["verdict"] == "filtered" and "first_error" not in iperf  # not retried


def test_shaped_link_is_one_bad_link_and_no_node(four: SimCluster, run_on: Any) -> None:
    four.shape_link("node-1", "node-3", SHAPED)
    try:
        run = run_on("-k", "iperf3 or bandwidth")
    finally:
        four.shape_link("node-1", "node-3", None)
    expected = failing("iperf3_bandwidth", ["node-1->node-3", "node-3->node-1"])
    assert run.bad_summary() == expected, explain(run)
    suspects = run.record["matrices"]["suspects"]
    assert suspects["nodes"] == []
    assert suspects["links"] == [["node-1", "node-3"]]
    assert all(m.endswith("; this link only") for m in messages(run, "iperf3_bandwidth"))
    assert {r["status"] for r in run.of("bandwidth_isolation")} == {"pass"}
    (finding,) = run.record["findings"]
    assert (finding["scope"], finding["action"]) == ("links", "check-link")
    assert sorted(finding["pairs"]) == [["node-1", "node-3"], ["node-3", "node-1"]]
    assert run.record["bad_nodes"] == []


# Path MTU and SSH mesh -------------------------------------------------------------------


def test_smaller_mtu_fails_only_that_hosts_pairs(four: SimCluster, run_on: Any) -> None:
    four.set_mtu("node-2", 1400)
    try:
        run = run_on(*PAIRWISE_ONLY)
    finally:
        four.set_mtu("node-2", 1500)
    expected = failing("path_mtu", FOUR) | failing("mtu_consistent", ["node-2"])
    assert run.bad_summary() == expected, explain(run)
    for result in run.bad():
        if result["check"] != "path_mtu":
            continue
        if result["node"] == "node-2":
            assert "local-mtu-smaller to node-[1,3-4]" in result["message"]
            assert result["targets"] == {"mtu-local-smaller": ["node-1", "node-3", "node-4"]}
        else:
            assert "black-hole to node-2" in result["message"]
            assert list(result["targets"].values()) == [["node-2"]]
        assert "node-2's eth0 MTU is 1400" in result["message"]
    mtu = [f for f in run.record["findings"] if f["check"] == "path_mtu"]
    assert {f["reason"] for f in mtu} == {"mtu-local-smaller", "mtu-packets-lost"}
    assert all((f["scope"], f["nodes"]) == ("nodes", ["node-2"]) for f in mtu), mtu


def test_missing_mesh_key_fails_that_direction_only(four: SimCluster, run_on: Any) -> None:
    four.mesh_key_missing("node-1", "node-4")
    try:
        run = run_on(*PAIRWISE_ONLY)
    finally:
        four.restore_mesh_key("node-1", "node-4")
    assert run.bad_summary() == failing("ssh_mesh", ["node-1"]), explain(run)
    (message,) = messages(run, "ssh_mesh")
    assert message.startswith("node-1: ssh auth-denied to node-4")
    (finding,) = run.record["findings"]
    assert (finding["scope"], finding["pairs"]) == ("links", [["node-1", "node-4"]])


# ib_write_bw -----------------------------------------------------------------------------


def test_slow_rdma_host_is_named_on_every_rail(four: SimCluster, run_on: Any) -> None:
    healthy = HostSpec().ib_write_bw_gbps
    four.update_spec("node-2", ib_write_bw_gbps=150.0)
    try:
        run = run_on(*PAIRWISE_ONLY)
    finally:
        four.update_spec("node-2", ib_write_bw_gbps=healthy)
    expected = failing("ib_write_bw", touching("node-2"))
    expected |= failing("ib_write_bw_isolation", ["node-2"])
    assert run.bad_summary() == expected, explain(run)
    for message in messages(run, "ib_write_bw"):
        assert "8/8 rails below 360 Gbit/s (0.9 x the slower port's rate)" in message
        assert "mlx5_0 150 Gbit/s" in message and message.endswith("node-2 is the slow node")
    assert run.record["matrices"]["suspects"]["nodes"] == ["node-2"]
    cells = run.record["matrices"]["ib_write_bw"]["cells"]
    assert {(c["src"], c["dst"]) for c in cells if c["status"] == "fail"} == {
        tuple(s.split("->")) for s in touching("node-2")}


def test_gpudirect_runs_each_rail_on_its_nearest_gpu(four: SimCluster, run_on: Any) -> None:
    logs = {h: four.host(h).dir / "calls.log" for h in four.names}
    before = {h: len(path.read_text().splitlines()) if path.exists() else 0
              for h, path in logs.items()}
    run = run_on("-k", "ib_write_bw", "--expect", "gpudirect=true")
    assert run.rc == 0 and run.bad() == [], explain(run)
    calls = [line.split() for h, path in logs.items()
             for line in path.read_text().splitlines()[before[h]:]
             if line.startswith("ib_write_bw ")]
    assert len(calls) == 12 * 8 * 2  # 12 directions x 8 rails x (server + client)
    for argv in calls:
        rail = int(argv[argv.index("-d") + 1].removeprefix("mlx5_"))
        assert f"--use_cuda={rail}" in argv  # the stand-in's topology: GPU i PIX to NIC i


def test_rdma_skips_nodes_without_device_or_perftest(sim_cluster: Any, tmp_path: Path) -> None:
    cluster = sim_cluster(4, specs={"node-4": HostSpec(ib_ports=[])})
    (cluster.host("node-3").bin_dir / "ib_write_bw").unlink()  # perftest not installed
    run = run_preflight(*cluster.preflight_args(), "-k", "ib_write_bw", "--pairs", "mesh",
                        out=tmp_path / "run", timeout=300)
    assert run.rc == 0 and run.bad() == [], explain(run)
    statuses = {f"{r['pair'][0]}->{r['pair'][1]}": r["status"] for r in run.of("ib_write_bw")}
    assert {s for s, status in statuses.items() if status == "pass"} == {
        "node-1->node-2", "node-2->node-1"}
    skipped = {r["id"]: r["message"] for r in run.results if r["status"] == "skip"}
    assert len(skipped) == 10 + 2  # pairs with node-3 or node-4, and their isolation checks
    assert all(("node-3: ib_write_bw (perftest) is not installed" in m)
               or m.startswith("node-4: ") for m in skipped.values()), skipped


def test_ring_schedule_gives_results_for_its_pairs_only(sim_cluster: Any,
                                                        tmp_path: Path) -> None:
    cluster = sim_cluster(5, specs={"node-5": HostSpec(ib_ports=[])})
    (cluster.host("node-4").bin_dir / "ib_write_bw").unlink()  # perftest not installed
    run = run_preflight(*cluster.preflight_args(), "--pairs", "ring",
                        "-k", "iperf3_bandwidth or check_ib_write_bw",
                        out=tmp_path / "run", timeout=300)
    assert run.rc == 0 and run.bad() == [], explain(run)
    ring = scheduled_pairs(cluster.names, "ring")
    with_ports = scheduled_pairs(cluster.names[:4], "ring")  # node-5 has no IB port
    assert ring is not None and with_ports is not None
    iperf = {tuple(r["pair"]): r["status"] for r in run.of("iperf3_bandwidth")}
    assert iperf == dict.fromkeys(ring, "pass") and len(iperf) == 10
    ib = {tuple(r["pair"]): r for r in run.of("ib_write_bw")}
    assert set(ib) == with_ports and len(ib) == 8
    for pair, result in ib.items():
        if "node-4" in pair:
            assert result["status"] == "skip"
            assert "node-4: ib_write_bw (perftest) is not installed" in result["message"]
        else:
            assert result["status"] == "pass", result
    assert not [r for r in run.results if "not measured" in (r["message"] or "")]
