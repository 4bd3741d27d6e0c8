"""Who runs which ranks with which backend and env, decided from the gathered facts."""

from __future__ import annotations

from typing import Any

import pytest

from preflight.collective.plan import make_plan
from preflight.config import Expectations
from preflight.facts import ClusterFacts
from preflight.gather import NodeOutcome

ADDRESSES = {"n1": "10.0.0.1", "n2": "10.0.0.2", "n3": "10.0.0.3"}


def facts(name: str, *, torch: str | None = "2.5.1", gpus: int = 8,
          env: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "hostname": name,
        "versions": {"torch": torch},
        "env": env or {},
        "pynvml": {"gpus": [{"index": i} for i in range(gpus)], "driver_version": "550"},
        "interfaces": [
            {"name": "lo", "state": "unknown", "addresses": ["127.0.0.1"]},
            {"name": "ens5", "state": "up", "addresses": ["192.168.9.9"]},
            {"name": "ib0", "state": "up", "addresses": [ADDRESSES[name]]},
        ],
    }


def cluster(**per_node: dict[str, Any]) -> ClusterFacts:
    return ClusterFacts({name: NodeOutcome(name, facts=f) for name, f in per_node.items()})


def plan_of(facts_by_node: ClusterFacts) -> Any:
    return make_plan(facts_by_node, facts_by_node.names, ADDRESSES, Expectations(), 29511)


def test_gpu_nodes_with_cuda_torch_get_one_nccl_rank_per_gpu() -> None:
    plan = plan_of(cluster(n1=facts("n1"), n2=facts("n2", gpus=4)))
    assert plan.backend == "nccl" and plan.world_size == 12
    assert [(n.name, n.ranks) for n in plan.nodes] == [("n1", list(range(8))),
                                                        ("n2", list(range(8, 12)))]
    assert (plan.master, plan.master_addr, plan.master_port) == ("n1", "10.0.0.1", 29511)
    n1 = plan.node("n1")
    assert n1.ifname == "ib0" and n1.ifname_source == "from the cluster address"
    assert n1.env == {"GLOO_SOCKET_IFNAME": "ib0", "NCCL_SOCKET_IFNAME": "ib0",
                      "NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET"}


def test_cpu_torch_or_a_node_without_gpus_means_one_gloo_rank_per_node() -> None:
    cpu = plan_of(cluster(n1=facts("n1", torch="2.13.0+cpu"), n2=facts("n2")))
    assert cpu.backend == "gloo" and "torch without CUDA on n1" in cpu.backend_reason
    assert [n.ranks for n in cpu.nodes] == [[0], [1]]
    assert "NCCL_DEBUG" not in cpu.node("n1").env
    no_gpu = plan_of(cluster(n1=facts("n1"), n2=facts("n2", gpus=0)))
    assert no_gpu.backend == "gloo" and "no GPUs visible on n2" in no_gpu.backend_reason


def test_the_users_settings_win_and_secrets_are_not_sent() -> None:
    env = {"NCCL_SOCKET_IFNAME": "ens5", "NCCL_DEBUG": "WARN", "NCCL_IB_HCA": "mlx5_0",
           "NCCL_API_TOKEN": "<redacted>", "CUDA_VISIBLE_DEVICES": "0,1"}
    plan = plan_of(cluster(n1=facts("n1", env=env), n2=facts("n2")))
    n1 = plan.node("n1")
    assert n1.ifname == "ens5" and n1.ifname_source == "set by the user"
    assert n1.env == {"NCCL_SOCKET_IFNAME": "ens5", "NCCL_DEBUG": "WARN",
                      "NCCL_IB_HCA": "mlx5_0", "GLOO_SOCKET_IFNAME": "ib0"}


def test_nodes_without_torch_stay_out_and_the_first_with_torch_is_master() -> None:
    plan = plan_of(cluster(n1=facts("n1", torch=None), n2=facts("n2"), n3=facts("n3")))
    assert plan.master == "n2" and plan.master_addr == "10.0.0.2"
    assert [n.name for n in plan.nodes] == ["n2", "n3"]
    assert [n.node_rank for n in plan.nodes] == [0, 1]
    assert plan.without_torch == {"n1": "torch is not installed for the node's python"}


def test_no_torch_anywhere_is_not_a_plan() -> None:
    with pytest.raises(LookupError, match="torch is not installed on any node"):
        plan_of(cluster(n1=facts("n1", torch=None)))


def test_payload_sends_shared_env_once() -> None:
    plan = plan_of(cluster(n1=facts("n1"), n2=facts("n2", env={"NCCL_IB_HCA": "mlx5_1"})))
    payload = plan.payload({"sizes": [1024]})
    assert payload["env"] == {"GLOO_SOCKET_IFNAME": "ib0", "NCCL_SOCKET_IFNAME": "ib0",
                              "NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET"}
    assert [n["env"] for n in payload["nodes"]] == [{}, {"NCCL_IB_HCA": "mlx5_1"}]
    assert payload["sizes"] == [1024] and payload["world_size"] == 16
    assert payload["nodes"][1] == {"name": "n2", "node_rank": 1, "rank_base": 8,
                                   "local_world_size": 8, "env": {"NCCL_IB_HCA": "mlx5_1"}}
