"""The fabric: IB/RoCE ports up at rate, EFA devices present, NCCL env names real devices, MTU."""

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, majority_counted, usual_among_others
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


@functools.lru_cache(maxsize=2)
def _ports_seen(cluster: ClusterFacts) -> dict[str, Counter[tuple[str, float]]]:
    """For each CA/port, how many nodes show each (state, rate): once per run (per node,
    reading every node's ports again would be N^2 at scale)."""
    seen: dict[str, Counter[tuple[str, float]]] = {}
    for states in cluster.values(_states).values():
        for key, state, rate in states:
            seen.setdefault(key, Counter())[(state, rate)] += 1
    return seen


def _usual_ports(node: NodeFacts, cluster: ClusterFacts) -> dict[str, tuple[str, float]]:
    """For each CA/port, the state and rate most other nodes show."""
    own: dict[str, list[tuple[str, float]]] = {}
    for key, state, rate in _states(node) or ():
        own.setdefault(key, []).append((state, rate))
    usual = {}
    for key, counts in _ports_seen(cluster).items():
        common = usual_among_others(counts, own.get(key, []))
        if common is not None:
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
        expected, _, _ = majority_counted(
            cluster.counted(lambda n: len(efa_devices(n.efa_providers or [])) or None))
    if not expected and not count:
        skip("no EFA devices expected or found")
    observe(count, expected=expected, unit="EFA devices")
    if expected is not None and count != expected:
        fail(f"{node.name}: {count} EFA devices, expected {expected}",
             hint="an EFA interface is missing: check the instance's network cards and "
                  "the efa driver (lsmod | grep efa); stop/start the instance",
                  reason="efa-missing")


ENV_HINT = ("NCCL/gloo use only the devices these variables select: make them select the "
            "interface (or HCA) that carries the cluster traffic, or unset them")


def _nccl_list(value: str) -> tuple[bool, bool, list[tuple[str, str | None]]]:
    """NCCL's list syntax: ^ excludes, = means exact names, items are name[:port] (ports are
    for HCAs); returns (exclude, exact, [(name, port)])."""
    exclude = value.startswith("^")
    value = value.removeprefix("^")
    exact = value.startswith("=")
    items = []
    for item in value.removeprefix("=").split(","):
        name, _, port = item.strip().partition(":")
        if name:
            items.append((name, port or None))
    return exclude, exact, items


def nccl_selects(value: str, devices: Sequence[tuple[str, str | None]]) -> list[str]:
    """The devices (name, port) NCCL's matchIfList keeps for this variable's value: prefix
    match unless `=`, a port only where the item names one, everything else under `^`."""
    exclude, exact, items = _nccl_list(value)

    def matches(name: str, port: str | None) -> bool:
        return any((name == want if exact else name.startswith(want))
                   and (want_port is None or want_port == port) for want, want_port in items)

    kept = [(n, p) for n, p in devices if matches(n, p) != exclude]
    return list(dict.fromkeys(n if p is None else f"{n}:{p}" for n, p in kept))


def _is_loopback(iface: dict[str, Any]) -> bool:
    addresses = iface.get("addresses") or []
    return iface.get("name") == "lo" or all(
        a.startswith("127.") or a == "::1" for a in addresses)


def _socket_problem(var: str, value: str, node: NodeFacts, expect: Expectations) -> str | None:
    """Why the interfaces NCCL (or gloo) would bind cannot carry the job, or None."""
    interfaces = {str(i.get("name")): i for i in node.interfaces
                  if i.get("addresses")}  # NCCL only considers interfaces with an address
    if var == "GLOO_SOCKET_IFNAME":  # gloo: exact names, each must exist
        missing = [n for n in value.split(",") if n and n not in interfaces]
        picked = [n for n in value.split(",") if n in interfaces] if not missing else []
    else:
        picked = nccl_selects(value, [(name, None) for name in interfaces])
    has = ", ".join(sorted(interfaces)) or "none"
    if not picked:
        return f"{var}={value} selects no interface (has {has})"
    real = [n for n in picked if not _is_loopback(interfaces[n])]
    if not real:
        return f"{var}={value} selects only loopback ({', '.join(picked)})"
    cluster = node.cluster_interface(expect)
    if cluster is not None and cluster.get("name") not in real:
        return (f"{var}={value} selects {', '.join(real)}, not {cluster.get('name')} which "
                "carries the cluster traffic")
    return None


def _hca_problem(value: str, node: NodeFacts) -> str | None:
    ports = [(str(p.get("ca")), str(p.get("port"))) for p in node.ib_ports or []
             if p.get("state") == "Active"]
    if nccl_selects(value, ports):
        return None
    has = ", ".join(sorted({f"{ca}:{port}" for ca, port in ports})) or "none"
    return f"NCCL_IB_HCA={value} selects no Active HCA port (has {has})"


def check_nccl_env_devices(node: NodeFacts, expect: Expectations) -> None:
    env = node.env
    wanted = [v for v in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")
              if v in env]
    if not wanted:  # before reading ibstat: an unset variable needs no device list
        skip("neither NCCL_SOCKET_IFNAME, GLOO_SOCKET_IFNAME nor NCCL_IB_HCA is set")
    problems = [p for var in wanted if (p := (
        _hca_problem(str(env[var]), node) if var == "NCCL_IB_HCA"
        else _socket_problem(var, str(env[var]), node, expect))) is not None]
    observe(len(problems), expected=0, unit="bad settings")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)}", hint=ENV_HINT, reason="nccl-env-devices")


def check_mtu_consistent(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    iface = node.cluster_interface(expect)
    if iface is None:
        skip("no cluster interface found (set cluster_interface)")
    mtus = cluster.counted(lambda n: (n.cluster_interface(expect) or {}).get("mtu"))
    common, count, total = majority_counted(mtus)
    observe(iface.get("mtu"), expected=common, unit="bytes")
    if common is not None and iface.get("mtu") != common:
        fail(f"{node.name}: MTU {iface.get('mtu')} on {iface.get('name')}, the other {count} "
             f"of {total} nodes use {common}",
             hint="set the same MTU on every node (and the switch); a mismatch black-holes "
                  "large packets", reason="mtu-differs")
