"""The TCP ports a job needs, from every node to every other node: one result per source
node (its unreachable targets listed in it); every pair stays in the ports matrices."""

from collections import Counter
from typing import Any

from preflight.facts import NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.verdict import Unavailable, against, fail, observe

KNOWN_PORTS = {22: "ssh", 29500: "MASTER_PORT", 6379: "Ray GCS", 8265: "Ray dashboard"}
HINTS = {
    "filtered": "a firewall drops the traffic: check the security group / ufw / iptables "
                "INPUT rules on {dst}",
    "refused": "a REJECT rule or nothing able to listen on {dst}: check iptables on {dst}",
    "no-route": "no route from {src} to {dst}: check routes and the cluster subnet",
    "unresolved": "{src} cannot resolve {dst}: fix DNS or /etc/hosts",
}


def _name(port: int) -> str:
    return f"TCP {port} ({KNOWN_PORTS[port]})" if port in KNOWN_PORTS else f"TCP {port}"


def check_tcp_ports(node: NodeFacts, ports_probe: dict[str, Any]) -> None:
    src = node.name
    entries = source_entries(ports_probe, src)
    closed: dict[tuple[int, str], list[str]] = {}
    unknown: dict[str, str] = {}
    for dst, verdicts in entries.items():
        for port, (kind, detail) in verdicts.items():
            if kind == "error":
                unknown.setdefault(dst, f"{_name(int(port))}: {detail}")
            elif kind != "open":
                closed.setdefault((int(port), kind), []).append(dst)
    targets = sorted({dst for dsts in closed.values() for dst in dsts})
    observe(len(entries) - len(targets), expected=f"{len(entries)} peers open", unit="peers")
    if closed:
        (port, kind), _ = Counter({k: len(v) for k, v in closed.items()}).most_common(1)[0]
        listed = "; ".join(f"{_name(p)} {k} to {targets_text(d)}"
                           for (p, k), d in sorted(closed.items()))
        by_reason: dict[str, list[str]] = {}
        for (p, k), dsts in closed.items():
            by_reason.setdefault(f"tcp-{p}-{k}", []).extend(dsts)
        against(by_reason)
        fail(f"{src}: {listed} (expected open)",
             measured={f"{p}": k for (p, k) in closed}, expected="open",
             hint=HINTS.get(kind, "check the network path").format(
                 src=src, dst=targets_text(closed[(port, kind)])),
             reason=f"tcp-{port}-{kind}")
    if unknown:
        dst, detail = next(iter(unknown.items()))
        raise Unavailable(f"{src}: {len(unknown)} peer(s) not tested, e.g. {dst}: {detail}",
                          reason="ports-not-tested")
