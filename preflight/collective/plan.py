"""Who runs which ranks, with which backend and env: decided once, from the gathered facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
from preflight.verdict import Unavailable

USER_ENV_PREFIXES = ("NCCL_", "GLOO_")
IFNAME_VARS = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")
REDACTED = "<redacted>"


@dataclass
class NodePlan:
    name: str
    node_rank: int
    rank_base: int
    local_world_size: int
    env: dict[str, str]
    ifname: str | None  # the interface the backend is told to use
    ifname_source: str  # "set by the user" or "from the cluster address"

    @property
    def ranks(self) -> list[int]:
        return list(range(self.rank_base, self.rank_base + self.local_world_size))

    def entry(self) -> dict[str, Any]:
        return {"name": self.name, "node_rank": self.node_rank, "rank_base": self.rank_base,
                "local_world_size": self.local_world_size, "env": self.env}


@dataclass
class Plan:
    backend: str  # "nccl" (one rank per GPU) or "gloo" (one rank per node)
    backend_reason: str
    master: str
    master_addr: str
    master_port: int
    nodes: list[NodePlan]
    without_torch: dict[str, str] = field(default_factory=dict)  # node -> why not launched

    @property
    def world_size(self) -> int:
        return sum(n.local_world_size for n in self.nodes)

    @property
    def ifname_var(self) -> str:
        return "NCCL_SOCKET_IFNAME" if self.backend == "nccl" else "GLOO_SOCKET_IFNAME"

    def node(self, name: str) -> NodePlan:
        return next(n for n in self.nodes if n.name == name)

    def rank_node(self) -> dict[int, str]:
        return {rank: n.name for n in self.nodes for rank in n.ranks}

    def payload(self, common: Mapping[str, Any]) -> dict[str, Any]:
        """The node script's argument: env shared by every node is sent once."""
        shared = _shared_env([n.env for n in self.nodes])
        entries = [dict(n.entry(), env={k: v for k, v in n.env.items() if k not in shared})
                   for n in self.nodes]
        return {**common, "backend": self.backend, "master_addr": self.master_addr,
                "master_port": self.master_port, "world_size": self.world_size,
                "env": shared, "nodes": entries}

    def summary(self) -> dict[str, Any]:
        return {"backend": self.backend, "backend_reason": self.backend_reason,
                "master": self.master, "master_addr": self.master_addr,
                "master_port": self.master_port, "world_size": self.world_size,
                "without_torch": self.without_torch,
                "nodes": {n.name: {"ranks": n.ranks, "ifname": n.ifname,
                                   "ifname_source": n.ifname_source} for n in self.nodes}}


def _shared_env(envs: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not envs:
        return {}
    shared = dict(envs[0])
    for env in envs[1:]:
        shared = {k: v for k, v in shared.items() if env.get(k) == v}
    return shared


def torch_version(node: NodeFacts) -> str | None:
    version = node.version("torch")
    return str(version) if version else None


def gpu_count(node: NodeFacts) -> int:
    try:
        return len(node.gpus or [])
    except Unavailable:
        return 0  # nvidia-smi did not answer: run one gloo rank rather than guess


def choose_backend(nodes: Sequence[NodeFacts]) -> tuple[str, str]:
    cpu_torch = [n.name for n in nodes if (torch_version(n) or "").endswith("+cpu")]
    no_gpus = [n.name for n in nodes if gpu_count(n) == 0]
    if no_gpus:
        return "gloo", f"no GPUs visible on {', '.join(no_gpus)}: one gloo rank per node"
    if cpu_torch:
        return "gloo", (f"torch without CUDA on {', '.join(cpu_torch)}: "
                        "one gloo rank per node")
    return "nccl", "one NCCL rank per GPU"


def user_env(node: NodeFacts) -> dict[str, str]:
    return {k: v for k, v in node.env.items()
            if k.startswith(USER_ENV_PREFIXES) and v != REDACTED}


def interface_name(node: NodeFacts, address: str | None, expect: Expectations) -> str | None:
    iface = node.interface_with(address) if address else None
    iface = iface or node.cluster_interface(expect)
    name = (iface or {}).get("name")
    return str(name) if name else None


def node_env(node: NodeFacts, address: str | None, expect: Expectations,
             backend: str) -> tuple[dict[str, str], str | None, str]:
    env = user_env(node)
    wanted = "NCCL_SOCKET_IFNAME" if backend == "nccl" else "GLOO_SOCKET_IFNAME"
    source = "set by the user" if wanted in env else "from the cluster address"
    iface = interface_name(node, address, expect)
    for var in IFNAME_VARS:
        if var not in env and iface:
            env[var] = iface
    if backend == "nccl" and "NCCL_DEBUG" not in env:
        env |= {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET"}  # to see what NCCL picks
    return env, env.get(wanted), source


def make_plan(cluster: ClusterFacts, names: Sequence[str], addresses: Mapping[str, str | None],
              expect: Expectations, master_port: int) -> Plan:
    """Ranks in inventory order; the first node with torch is the master (rank 0)."""
    nodes = [cluster.node(name) for name in names]
    with_torch = [n for n in nodes if torch_version(n)]
    without = {n.name: "torch is not installed for the node's python" for n in nodes
               if not torch_version(n)}
    if not with_torch:
        raise LookupError("torch is not installed on any node")
    backend, reason = choose_backend(with_torch)
    master = with_torch[0].name
    master_addr = addresses.get(master)
    if not master_addr:
        raise LookupError(f"{master}: no cluster address for MASTER_ADDR")
    planned, base = [], 0
    for index, node in enumerate(with_torch):
        local = gpu_count(node) if backend == "nccl" else 1
        env, ifname, source = node_env(node, addresses.get(node.name), expect, backend)
        planned.append(NodePlan(node.name, index, base, local, env, ifname, source))
        base += local
    return Plan(backend, reason, master, master_addr, master_port, planned, without)
