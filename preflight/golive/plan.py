"""Which nodes a job starts on, at which address and port, with how many processes each.

A pure function of the run directory (RunInputs): the nodes that passed, the address each
node was reached at by the probes that passed (the ports probe's listener, else what the
other nodes resolve its name to), and the MASTER_PORT the port checks proved open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from preflight.collective.plan import gpu_count
from preflight.errors import PreflightError
from preflight.facts import NodeFacts
from preflight.findings import bad_pairs, compute_findings
from preflight.golive.env import Setting, nccl_env
from preflight.golive.runread import RunInputs
from preflight.golive.verdicts import check_state
from preflight.inventory import compress_hostlist
from preflight.measure.base import node_address, pair_key
from preflight.results import RunRecord


class Refused(PreflightError):
    """No plan: the run is NO-GO and excluding its bad nodes is not asked for or not enough."""

    exit_code = 1

    def __init__(self, headline: str, reasons: list[str]) -> None:
        super().__init__(headline)
        self.headline = headline
        self.reasons = reasons


@dataclass(frozen=True)
class LaunchNode:
    name: str
    user: str | None
    address: str
    interface: str | None  # the interface holding `address`
    gpus: int
    nproc: int  # processes to start: the GPUs seen, else the hostfile's slots, else 1
    nproc_source: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "interface": self.interface,
                "gpus": self.gpus, "nproc_per_node": self.nproc}


@dataclass(frozen=True)
class LaunchPlan:
    nodes: list[LaunchNode]  # node rank order; the first is the master
    master_port: int
    port_why: str
    port_proven: bool
    env: list[Setting]
    excluded: list[str] = field(default_factory=list)

    @property
    def master(self) -> LaunchNode:
        return self.nodes[0]

    @property
    def world_size(self) -> int:
        return sum(n.nproc for n in self.nodes)

    @property
    def nproc_per_node(self) -> int | None:
        """The processes per node when every node starts the same number."""
        counts = {n.nproc for n in self.nodes}
        return counts.pop() if len(counts) == 1 else None

    @property
    def interfaces(self) -> list[str]:
        return sorted({n.interface for n in self.nodes if n.interface})

    def exported(self) -> dict[str, str]:
        return {s.name: s.value for s in self.env if s.value is not None}

    def to_dict(self) -> dict[str, Any]:
        """results.json's `launch` block."""
        interfaces = self.interfaces
        return {
            "master": self.master.name, "master_addr": self.master.address,
            "master_port": self.master_port, "master_port_proven": self.port_proven,
            "interface": interfaces[0] if len(interfaces) == 1 else None,
            "nproc_per_node": self.nproc_per_node, "world_size": self.world_size,
            "nodes": [n.to_dict() for n in self.nodes], "excluded": self.excluded,
            "env": [s.to_dict() for s in self.env],
        }


def plan_launch(inputs: RunInputs, *, exclude_bad: bool = False) -> LaunchPlan:
    kept, excluded = select_nodes(inputs.record, exclude_bad)
    counted = gpus_counted(inputs.record)
    nodes = [launch_node(inputs, name, counted.get(name)) for name in kept]
    port, why, proven = master_port(inputs, nodes)
    return LaunchPlan(nodes, port, why, proven, nccl_env(inputs, nodes), excluded)


# nodes ---------------------------------------------------------------------------------


def select_nodes(record: RunRecord, exclude_bad: bool) -> tuple[list[str], list[str]]:
    """(kept, excluded): every node on GO; on NO-GO with exclude_bad, the nodes the run did
    not name, provided nothing that gates is left about them (cluster-wide or a pair)."""
    if record.partial:
        raise Refused("the run was interrupted: checks that never ran cannot pass",
                      ["run `preflight run` again to the end"])
    if record.go:
        return list(record.hosts), []
    bad = record.bad_nodes()
    if not exclude_bad:
        raise Refused("NO-GO: these findings stand in the way", [
            *standing(record),
            "fix them and run again, or pass --exclude-bad to launch on the nodes that passed"])
    gone = set(bad)
    kept = [h for h in record.hosts if h not in gone]
    left = standing(record, gone)
    if left or not kept:
        raise Refused(f"NO-GO, and excluding {compress_hostlist(bad) or 'no node'} is not "
                      "enough",
                      left or ["no node is left"])
    return kept, bad


def standing(record: RunRecord, excluded: set[str] | None = None) -> list[str]:
    """One line per gating finding, with a message of one of its results; given the
    excluded nodes, only the findings left once their results naming those nodes are gone
    (cluster-wide ones, pairs of good nodes): excluding nodes does not clear those."""
    gate = record.gate_statuses()
    gone = excluded or set()
    results = [r for r in record.results if r.status in gate and not gone & set(r.nodes)
               and not (bad_pairs(r) and all(gone & set(p) for p in bad_pairs(r)))]
    lines = []
    for finding in compute_findings(results, record.hosts):
        first = next(r for r in results if r.finding == finding.id)
        who = compress_hostlist(finding.nodes) if finding.nodes else "cluster"
        lines.append(f"{who}: {finding.check} ({finding.reason}, {finding.scope}): "
                     f"{first.message}".rstrip(": "))
    return lines


def gpus_counted(record: RunRecord) -> dict[str, int]:
    """The GPUs gpu_count saw per node: read from its results, nvidia-smi -q is not parsed
    a second time (tens of milliseconds a node, minutes at 1,024 nodes on a busy head)."""
    return {r.node: r.measured for r in record.results
            if r.check == "gpu_count" and r.node and type(r.measured) is int}


def launch_node(inputs: RunInputs, name: str, counted: int | None = None) -> LaunchNode:
    node = inputs.cluster.node(name)
    address = probed_address(inputs, name)
    if address is None:
        raise Refused(f"{name}: no address to reach it at",
                      [f"{name}: neither a probe nor name resolution recorded its address"])
    iface = node.interface_with(address)
    gpus = gpu_count(node) if counted is None else counted
    nproc, source = processes(node, gpus)
    return LaunchNode(name, inputs.users.get(name), address,
                      str(iface["name"]) if iface else None, gpus, nproc, source)


def probed_address(inputs: RunInputs, name: str) -> str | None:
    """The address the ports probe listened on and was reached at; else the one the other
    nodes resolve the name to (what every probe connects to)."""
    listener = (inputs.measurements.get("ports") or {}).get("listeners", {}).get(name) or {}
    address = listener.get("address")
    if isinstance(address, str):
        return address
    return node_address(inputs.cluster, name, inputs.expect)


def processes(node: NodeFacts, gpus: int) -> tuple[int, str]:
    if gpus:
        return gpus, "GPUs seen"
    if node.slots:
        return int(node.slots), "hostfile slots (no GPU seen)"
    return 1, "one per node (no GPU seen, no slots)"


# port ----------------------------------------------------------------------------------


def master_port(inputs: RunInputs, nodes: list[LaunchNode]) -> tuple[int, str, bool]:
    """(port, why, proven): the configured MASTER_PORT when the ports probe found it open
    from every node to the master, else another port it proved open, else the torch
    rendezvous's port if that passed; the configured port, unproven, otherwise."""
    wanted = inputs.expect.master_port
    master, names = nodes[0].name, {n.name for n in nodes}
    opened = open_to(inputs.measurements.get("ports") or {}, master, names)
    others = f"from the other {len(names) - 1} nodes" if len(names) > 1 else "(one node)"
    if opened:
        port = wanted if wanted in opened else opened[0]
        return port, f"tcp_ports: TCP {port} open to {master} {others}", True
    torch = inputs.measurements.get("torch_allreduce") or {}
    plan = torch.get("plan") or {}
    passed, _ = check_state(inputs.record, "torch_rendezvous", names)
    if passed and plan.get("master") == master and plan.get("master_port"):
        port = int(plan["master_port"])
        return port, f"torch_rendezvous passed on {master}:{port}", True
    state = check_state(inputs.record, "tcp_ports", names)[1]
    return wanted, f"not proven open ({state}): the configured master_port", False


def open_to(ports: dict[str, Any], master: str, names: set[str]) -> list[int]:
    """Ports (other than ssh) the probe found open from every kept node to the master."""
    pairs = ports.get("pairs") or {}
    found = []
    for port in ports.get("ports") or []:
        if port == 22:
            continue
        verdicts = [(pairs.get(pair_key(src, master)) or {}).get(str(port)) or ["untested"]
                    for src in names if src != master]
        if all(v[0] == "open" for v in verdicts):
            found.append(int(port))
    return found
