"""The job's NCCL and libfabric environment, each variable with the check that justifies it.

A variable whose ground did not pass (its check failed, was skipped or did not run, or the
facts do not show what it needs) is left out, and the reason is kept in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preflight.checks.check_fabric import efa_devices
from preflight.facts import NodeFacts
from preflight.golive.runread import RunInputs
from preflight.golive.verdicts import check_state, passed_checks
from preflight.verdict import Unavailable

if TYPE_CHECKING:
    from preflight.golive.plan import LaunchNode

# Probes whose passing shows traffic flowed between the nodes' cluster addresses.
ACROSS_NODES = ("tcp_ports", "torch_rendezvous", "torch_allreduce", "iperf3_bandwidth",
                "ssh_mesh")
DEBUG_WHY = ("warnings only; for a first run set NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,NET "
             "to see the interface and HCAs NCCL picks")


@dataclass(frozen=True)
class Setting:
    name: str
    value: str | None  # None: left out
    why: str  # the check that justifies it, or why it is left out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "why": self.why}


def nccl_env(inputs: RunInputs, nodes: Sequence[LaunchNode]) -> list[Setting]:
    facts = [inputs.cluster.node(n.name) for n in nodes]
    return [*socket_ifname(inputs, nodes), *ib_settings(inputs, facts), *efa(inputs, facts),
            Setting("NCCL_DEBUG", "WARN", DEBUG_WHY)]


def socket_ifname(inputs: RunInputs, nodes: Sequence[LaunchNode]) -> list[Setting]:
    """The interface the passing probes used: one name on every node, else NCCL's list
    (gloo takes one interface, so it gets none then)."""
    names = [n.name for n in nodes]
    missing = [n.name for n in nodes if not n.interface]
    proof = passed_checks(inputs.record, ACROSS_NODES, names)
    if missing or not proof:
        why = (f"no interface holds the probed address of {', '.join(missing)}" if missing
               else f"no probe across the nodes passed ({', '.join(ACROSS_NODES)})")
        return [Setting("NCCL_SOCKET_IFNAME", None, why),
                Setting("GLOO_SOCKET_IFNAME", None, why)]
    interfaces = sorted({str(n.interface) for n in nodes})
    where = f"{', '.join(interfaces)} holds every node's probed address"
    why = f"{where}; {', '.join(proof)} passed over it"
    if len(interfaces) == 1:
        return [Setting("NCCL_SOCKET_IFNAME", interfaces[0], why),
                Setting("GLOO_SOCKET_IFNAME", interfaces[0], why)]
    return [Setting("NCCL_SOCKET_IFNAME", "=" + ",".join(interfaces), why),
            Setting("GLOO_SOCKET_IFNAME", None,
                    f"the nodes use different interfaces ({', '.join(interfaces)}); gloo "
                    "takes one name: set it per node")]


# InfiniBand / RoCE ----------------------------------------------------------------------


def _ports(node: NodeFacts) -> list[dict[str, Any]]:
    try:
        return node.ib_ports or []
    except Unavailable:
        return []


def _label(port: dict[str, Any]) -> str:
    return f"{port.get('ca')}:{port.get('port')}"


def ib_settings(inputs: RunInputs, facts: Sequence[NodeFacts]) -> list[Setting]:
    ports = {node.name: _ports(node) for node in facts}
    if not any(ports.values()):
        return [Setting("NCCL_IB_HCA", None, "no InfiniBand/RoCE port in the facts (ibstat)")]
    settings = [ib_hca(inputs, ports)]
    if any(p.get("link_layer") == "Ethernet" for found in ports.values() for p in found):
        settings.append(gid_index(facts))
    return settings


def ib_hca(inputs: RunInputs, ports: dict[str, list[dict[str, Any]]]) -> Setting:
    """HCA ports Active at the expected rate on every node, in NCCL's exact-match form."""
    passed, state = check_state(inputs.record, "ib_ports", list(ports))
    if not passed:
        return Setting("NCCL_IB_HCA", None, state)
    floor = inputs.expect.ib_rate_gbps or max(
        float(p.get("rate_gbps") or 0) for found in ports.values() for p in found
        if p.get("state") == "Active")
    good: list[str] | None = None
    why_not: dict[str, str] = {}
    for name, found in ports.items():
        mine = []
        for port in found:
            rate = float(port.get("rate_gbps") or 0)
            if port.get("state") != "Active":
                why_not.setdefault(_label(port), f"{port.get('state')} on {name}")
            elif rate < floor:
                why_not.setdefault(_label(port), f"{rate:g} Gb/s on {name}")
            else:
                mine.append(_label(port))
        good = mine if good is None else [p for p in good if p in mine]
    if not good:
        return Setting("NCCL_IB_HCA", None,
                       f"no HCA port is Active at >= {floor:g} Gb/s on every node")
    left = "".join(f"; left out {label} ({why})" for label, why in sorted(why_not.items())
                   if label not in good)
    return Setting("NCCL_IB_HCA", "=" + ",".join(good),
                   f"ib_ports passed: {len(good)} ports Active at >= {floor:g} Gb/s on every "
                   f"node{left}")


def gid_index(facts: Sequence[NodeFacts]) -> Setting:
    """RoCE needs the RoCE v2 GID; the facts hold no GID table, only what the user set."""
    values = {str(node.env.get("NCCL_IB_GID_INDEX")) for node in facts}
    if len(values) == 1 and "None" not in values:
        return Setting("NCCL_IB_GID_INDEX", values.pop(),
                       "RoCE ports; the same value is set on every node")
    return Setting("NCCL_IB_GID_INDEX", None,
                   "RoCE ports, but the facts hold no GID table: find the RoCE v2 GID with "
                   "show_gids (NCCL >= 2.21 picks one itself)")


# EFA ------------------------------------------------------------------------------------


def _efa_count(node: NodeFacts) -> int:
    try:
        return len(efa_devices(node.efa_providers or []))
    except Unavailable:
        return 0


def efa(inputs: RunInputs, facts: Sequence[NodeFacts]) -> list[Setting]:
    names = [node.name for node in facts]
    counts = {node.name: _efa_count(node) for node in facts}
    if not any(counts.values()):
        return [Setting("FI_PROVIDER", None, "no EFA device in the facts (fi_info -p efa)")]
    passed, state = check_state(inputs.record, "efa_count", names)
    if not passed or not all(counts.values()):
        why = state if not passed else "EFA devices on some nodes only"
        return [Setting("FI_PROVIDER", None, why), Setting("FI_EFA_USE_DEVICE_RDMA", None, why)]
    per_node = sorted(set(counts.values()))
    provider = Setting("FI_PROVIDER", "efa",
                       f"efa_count passed: {'/'.join(map(str, per_node))} EFA devices per node")
    gdr, gdr_state = check_state(inputs.record, "gpudirect_nic", names)
    if not gdr:
        return [provider, Setting("FI_EFA_USE_DEVICE_RDMA", None,
                                  f"GPUDirect RDMA not shown ({gdr_state})")]
    return [provider, Setting("FI_EFA_USE_DEVICE_RDMA", "1",
                              "efa_count and gpudirect_nic passed: every GPU has a NIC at "
                              "PIX/PXB (GPUDirect RDMA over EFA)")]
