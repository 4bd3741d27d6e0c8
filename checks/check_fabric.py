"""The fabric: IB/RoCE ports up at rate, EFA devices present, NCCL env names real devices, MTU."""

import fnmatch
from typing import Any

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, majority
from preflight.verdict import fail, observe, skip

IB_HINT = ("check the cable and switch port (ibstat, ibdiagnet); a port at a lower rate "
           "often means a bad cable or a port negotiated down")


def ports_or_skip(node: NodeFacts, expect: Expectations) -> list[dict[str, Any]]:
    ports = node.ib_ports
    if ports is None:
        if expect.ib_ports:
            fail(f"{node.name}: no ibstat/ibv_devinfo, expected {expect.ib_ports} IB ports",
                 hint="install infiniband-diags / rdma-core and the OFED driver",
                 reason="ib-tools-missing")
        skip("no InfiniBand/RoCE tools on this node")
    return ports


def _key(port: dict[str, Any]) -> str:
    return f"{port.get('ca')} port {port.get('port')}"


def _states(node: NodeFacts) -> tuple[tuple[str, str, float], ...] | None:
    """(CA/port, state, rate) of each port; None without IB tools."""
    ports = node.ib_ports
    if ports is None:
        return None
    return tuple((_key(p), str(p.get("state")), float(p.get("rate_gbps") or 0)) for p in ports)


def _usual_ports(node: NodeFacts, cluster: ClusterFacts) -> dict[str, tuple[str, float]]:
    """For each CA/port, the state and rate most other nodes show."""
    seen: dict[str, list[tuple[str, float]]] = {}
    for name, states in cluster.values(_states).items():
        if name == node.name:
            continue
        for key, state, rate in states:
            seen.setdefault(key, []).append((state, rate))
    usual = {}
    for key, values in seen.items():
        common, count, total = majority(values)
        if common is not None and count * 2 > total:
            usual[key] = common
    return usual


def check_ib_ports(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    ports = ports_or_skip(node, expect)
    usual = _usual_ports(node, cluster)
    floor = expect.ib_rate_gbps
    mine = {_key(port) for port in ports}
    bad = [f"{key}: missing (Active on the other nodes)" for key, (state, _) in usual.items()
           if key not in mine and state == "Active"]
    for port in ports:
        state, rate = str(port.get("state")), float(port.get("rate_gbps") or 0)
        want_state, want_rate = usual.get(_key(port), ("", 0.0))
        want_rate = floor if floor is not None else want_rate  # a configured rate wins
        if want_state == "Active" and state != "Active":
            bad.append(f"{_key(port)}: {state} (expected Active)")
        elif state == "Active" and rate < want_rate:
            bad.append(f"{_key(port)}: {rate:g} Gb/s (expected {want_rate:g})")
    good = [p for p in ports if p.get("state") == "Active"
            and float(p.get("rate_gbps") or 0) >= (floor or 0)]
    observe(len(good), expected=expect.ib_ports, unit="ports Active")
    if bad:
        fail(f"{node.name}: {'; '.join(bad)}", hint=IB_HINT, reason="ib-port-down")
    if expect.ib_ports and len(good) < expect.ib_ports:
        fail(f"{node.name}: {len(good)} ports Active at >= {floor or 0:g} Gb/s, expected "
             f"{expect.ib_ports}", hint=IB_HINT, reason="ib-ports-missing")


def efa_devices(providers: list[dict[str, Any]]) -> set[str]:
    domains = {str(p.get("domain")) for p in providers if "efa" in str(p.get("provider"))}
    return {d.removesuffix("-rdm").removesuffix("-dgrm") for d in domains}


def check_efa_count(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    providers = node.efa_providers
    if providers is None:
        if expect.efa_count:
            fail(f"{node.name}: fi_info not found, expected {expect.efa_count} EFA devices",
                 hint="install the EFA software (aws-efa-installer)", reason="efa-tools-missing")
        skip("no libfabric (fi_info) on this node")
    count = len(efa_devices(providers))
    expected = expect.efa_count
    if expected is None:
        expected, _, _ = majority(
            cluster.values(lambda n: len(efa_devices(n.efa_providers or [])) or None).values())
    if not expected and not count:
        skip("no EFA devices expected or found")
    observe(count, expected=expected, unit="EFA devices")
    if expected is not None and count != expected:
        fail(f"{node.name}: {count} EFA devices, expected {expected}",
             hint="an EFA interface is missing: check the instance's network cards and "
                  "the efa driver (lsmod | grep efa); stop/start the instance",
                  reason="efa-missing")


def _nccl_list(value: str) -> tuple[bool, bool, list[str]]:
    """NCCL's list syntax: ^ excludes, = means exact names; returns (exclude, exact, items)."""
    exclude = value.startswith("^")
    value = value.removeprefix("^")
    exact = value.startswith("=")
    items = [i.split(":")[0] for i in value.removeprefix("=").split(",") if i]
    return exclude, exact, items


def _missing(items: list[str], present: set[str], exact: bool) -> list[str]:
    def found(item: str) -> bool:
        if exact:
            return item in present
        return any(fnmatch.fnmatch(name, item + "*") for name in present)

    return [item for item in items if not found(item)]


def _devices(node: NodeFacts, var: str) -> set[str]:
    """What NCCL_IB_HCA (HCAs, from ibstat) or NCCL_SOCKET_IFNAME (interfaces) can name."""
    if var == "NCCL_IB_HCA":
        return {str(p.get("ca")) for p in node.ib_ports or []}
    return {str(i.get("name")) for i in node.get("interfaces") or []}


def check_nccl_env_devices(node: NodeFacts) -> None:
    env = node.get("env") or {}
    wanted = [v for v in ("NCCL_SOCKET_IFNAME", "NCCL_IB_HCA") if v in env]
    if not wanted:  # before reading ibstat: an unset variable needs no device list
        skip("neither NCCL_SOCKET_IFNAME nor NCCL_IB_HCA is set")
    problems = []
    for var in wanted:
        exclude, exact, items = _nccl_list(str(env[var]))
        present = _devices(node, var)
        if not exclude and (missing := _missing(items, present, exact)):
            problems.append(f"{var}={env[var]} names {', '.join(missing)}, which this node "
                            f"lacks (has {', '.join(sorted(present)) or 'none'})")
    observe(len(problems), expected=0, unit="bad settings")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)}",
             hint="NCCL silently falls back or hangs when these name nothing: fix the value",
             reason="nccl-env-invalid")


def check_mtu_consistent(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    iface = node.cluster_interface(expect)
    if iface is None:
        skip("no cluster interface found (set cluster_interface)")
    mtus = cluster.values(lambda n: (n.cluster_interface(expect) or {}).get("mtu"))
    common, count, total = majority(mtus.values())
    observe(iface.get("mtu"), expected=common, unit="bytes")
    if common is not None and iface.get("mtu") != common:
        fail(f"{node.name}: MTU {iface.get('mtu')} on {iface.get('name')}, the other {count} "
             f"of {total} nodes use {common}",
             hint="set the same MTU on every node (and the switch); a mismatch black-holes "
                  "large packets", reason="mtu-differs")
