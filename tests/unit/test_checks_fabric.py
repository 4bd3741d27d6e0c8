"""Fabric checks judged on recorded facts (stand-in ibstat and fi_info through the probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.checks import check_fabric
from preflight.config import Expectations
from preflight.facts import ClusterFacts
from tests.faults.recorded import cluster_of, facts_for, judge
from tests.sim.spec import HostSpec, IbPort

NAMES = ["node-1", "node-2", "node-3", "node-4"]
IB_HINT = check_fabric.IB_HINT


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hosts")


def ports(rate: int = 400, odd: dict[str, Any] | None = None) -> list[IbPort]:
    """Eight HCAs at `rate`; mlx5_5 with the `odd` fields."""
    found = [IbPort(ca=f"mlx5_{i}", rate=rate) for i in range(8)]
    found[5] = IbPort(ca="mlx5_5", **{"rate": rate, **(odd or {})})
    return found


def cluster(hosts: Path, every: HostSpec, odd: HostSpec | None = None) -> ClusterFacts:
    facts = {name: facts_for(every, hosts, NAMES) for name in NAMES}
    if odd is not None:
        facts["node-3"] = facts_for(odd, hosts, NAMES)
    return cluster_of(facts)


def ib(facts: ClusterFacts, node: str = "node-3", **expect: Any) -> tuple[str, str, str | None]:
    return judge(check_fabric.check_ib_ports, node=facts.node(node), cluster=facts,
                 expect=Expectations(**expect))


def test_missing_hca_is_named(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(), HostSpec(ib_ports=[p for p in ports() if p.ca != "mlx5_2"]))
    assert ib(facts) == ("fail", "node-3: mlx5_2 port 1: missing (Active on the other nodes)",
                         IB_HINT)
    assert ib(facts, "node-1")[0] == "pass"


def test_down_port_is_named(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(), HostSpec(ib_ports=ports(odd={"state": "Down", "rate": 10})))
    assert ib(facts)[:2] == ("fail", "node-3: mlx5_5 port 1: Down (expected Active)")


def test_every_port_below_the_configured_rate_is_named(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(ib_ports=ports(rate=200)))
    status, message, _ = ib(facts, ib_rate_gbps=400)
    assert status == "fail" and message.startswith("node-3: mlx5_0 port 1: 200 Gb/s (expected 400)")
    assert message.count("200 Gb/s (expected 400)") == 8


def test_a_configured_rate_wins_over_the_other_nodes(hosts: Path) -> None:
    # Peers at 400, this node at 200, and the job only needs 200: usable.
    facts = cluster(hosts, HostSpec(), HostSpec(ib_ports=ports(rate=200)))
    assert ib(facts, ib_rate_gbps=200)[0] == "pass"
    assert ib(facts)[:2] == ("fail", "node-3: " + "; ".join(
        f"mlx5_{i} port 1: 200 Gb/s (expected 400)" for i in range(8)))


def test_no_ib_tools_skips_unless_ports_are_expected(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec())
    node = facts.node("node-1")
    del node.raw["tools"]["ibstat"]
    node.raw["tools"]["ibv_devinfo"] = {"missing": True}
    assert judge(check_fabric.check_ib_ports, node=node, cluster=facts,
                 expect=Expectations())[0] == "skip"
    assert judge(check_fabric.check_ib_ports, node=node, cluster=facts,
                 expect=Expectations(ib_ports=8))[:2] == (
        "fail", "node-1: no ibstat/ibv_devinfo, expected 8 IB ports")


def test_efa_count_against_expectation_and_majority(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(efa_count=32), HostSpec(efa_count=31))
    for expect in (Expectations(efa_count=32), Expectations()):
        status, message, _ = judge(check_fabric.check_efa_count, node=facts.node("node-3"),
                                   cluster=facts, expect=expect)
        assert (status, message) == ("fail", "node-3: 31 EFA devices, expected 32")
    assert judge(check_fabric.check_efa_count, node=facts.node("node-1"), cluster=facts,
                 expect=Expectations(efa_count=32))[0] == "pass"


def test_no_efa_anywhere_skips(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec())
    assert judge(check_fabric.check_efa_count, node=facts.node("node-1"), cluster=facts,
                 expect=Expectations())[0] == "skip"


def env_verdict(facts: ClusterFacts, env: dict[str, str]) -> tuple[str, str, str | None]:
    node = facts.node("node-2")
    node.raw["env"] = env
    node.raw["interfaces"] = [
        {"name": "eth0", "state": "up", "mtu": 1500, "addresses": ["198.18.0.12"]},
        {"name": "lo", "state": "unknown", "mtu": 65536, "addresses": ["127.0.0.1", "::1"]},
        {"name": "eth1", "state": "down", "mtu": 1500, "addresses": []},
    ]
    return judge(check_fabric.check_nccl_env_devices, node=node, expect=Expectations())


@pytest.mark.parametrize(("value", "selected"), [
    ("eth", ["eth0", "eth1"]), ("=eth", []), ("=eth0", ["eth0"]), ("^eth", ["lo"]),
    ("ib0,eth0", ["eth0"]), ("^=eth0,lo", ["eth1"]), ("", []),
])
def test_nccl_list_rules(value: str, selected: list[str]) -> None:
    devices = [("eth0", None), ("eth1", None), ("lo", None)]
    assert check_fabric.nccl_selects(value, devices) == selected


@pytest.mark.parametrize(("env", "says"), [
    ({"NCCL_SOCKET_IFNAME": "ib0"}, "NCCL_SOCKET_IFNAME=ib0 selects no interface (has eth0, lo)"),
    ({"NCCL_SOCKET_IFNAME": "lo"}, "NCCL_SOCKET_IFNAME=lo selects only loopback (lo)"),
    ({"NCCL_SOCKET_IFNAME": "^eth"}, "NCCL_SOCKET_IFNAME=^eth selects only loopback (lo)"),
    ({"GLOO_SOCKET_IFNAME": "eth"}, "GLOO_SOCKET_IFNAME=eth selects no interface"),
    ({"NCCL_IB_HCA": "mlx5_9"}, "NCCL_IB_HCA=mlx5_9 selects no Active HCA port (has mlx5_0:1,"),
    ({"NCCL_IB_HCA": "^mlx5"}, "NCCL_IB_HCA=^mlx5 selects no Active HCA port"),
    ({"NCCL_IB_HCA": "mlx5_0:2"}, "NCCL_IB_HCA=mlx5_0:2 selects no Active HCA port"),
])
def test_nccl_env_selecting_nothing_or_loopback_fails(hosts: Path, env: dict[str, str],
                                                       says: str) -> None:
    status, message, hint = env_verdict(cluster(hosts, HostSpec()), env)
    assert status == "fail" and message.startswith(f"node-2: {says}"), message
    assert hint == check_fabric.ENV_HINT


@pytest.mark.parametrize("env", [
    {"NCCL_SOCKET_IFNAME": "ib0,eth0"}, {"NCCL_SOCKET_IFNAME": "eth"},
    {"NCCL_SOCKET_IFNAME": "^docker,lo"}, {"GLOO_SOCKET_IFNAME": "eth0"},
    {"NCCL_IB_HCA": "=mlx5_0,mlx5_9"}, {"NCCL_IB_HCA": "mlx5_0:1"},
])
def test_nccl_env_selecting_the_cluster_interface_passes(hosts: Path,
                                                         env: dict[str, str]) -> None:
    assert env_verdict(cluster(hosts, HostSpec()), env)[0] == "pass"


def test_nccl_env_selecting_only_another_interface_fails(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec())
    status, message, _ = env_verdict(facts, {"NCCL_SOCKET_IFNAME": "eth0"})
    assert status == "pass"
    node = facts.node("node-2")
    node.raw["interfaces"].append({"name": "ens5", "state": "up", "addresses": ["10.9.0.2"]})
    status, message, _ = judge(check_fabric.check_nccl_env_devices, node=node,
                               expect=Expectations(cluster_interface="eth0"))
    assert status == "pass"
    node.raw["env"] = {"NCCL_SOCKET_IFNAME": "ens"}
    status, message, _ = judge(check_fabric.check_nccl_env_devices, node=node,
                               expect=Expectations(cluster_interface="eth0"))
    assert (status, message) == ("fail", "node-2: NCCL_SOCKET_IFNAME=ens selects ens5, not eth0 "
                                         "which carries the cluster traffic")


def test_nccl_env_check_needs_ibstat_only_for_nccl_ib_hca(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec())
    node = facts.node("node-2")
    node.raw["tools"]["ibstat"]["stdout"] = "\x00\x1b[31m?? garbage\n"
    expect = Expectations()
    assert judge(check_fabric.check_nccl_env_devices, node=node, expect=expect)[0] == "skip"
    node.raw["env"] = {"NCCL_SOCKET_IFNAME": "eth"}
    assert judge(check_fabric.check_nccl_env_devices, node=node, expect=expect)[0] == "pass"
    node.raw["env"] = {"NCCL_IB_HCA": "mlx5_0"}
    status, message, _ = judge(check_fabric.check_nccl_env_devices, node=node, expect=expect)
    assert (status, message) == ("error", "node-2: cannot parse `ibstat` output: not ibstat "
                                          "output: binary data")
