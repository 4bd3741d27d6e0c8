"""The TCP ports a job needs, from every node to every other node."""

from typing import Any

from preflight.fixtures import pair_entry
from preflight.verdict import Unavailable, fail, observe

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


def _listed(verdicts: dict[int, list[str]]) -> str:
    return ", ".join(f"{_name(port)} {v[0]}" for port, v in sorted(verdicts.items()))


def check_tcp_ports(pair: tuple[str, str], ports_probe: dict[str, Any]) -> None:
    src, dst = pair
    verdicts = {int(port): v for port, v in pair_entry(ports_probe, pair).items()}
    closed = {port: v for port, v in verdicts.items() if v[0] not in ("open", "error")}
    unknown = {port: v for port, v in verdicts.items() if v[0] == "error"}
    observe(len(verdicts) - len(closed) - len(unknown), expected=f"{len(verdicts)} open",
            unit="ports")
    if closed:
        kinds = sorted({v[0] for v in closed.values()})
        hint = " / ".join(HINTS.get(k, "check the network path").format(src=src, dst=dst)
                          for k in kinds)
        fail(f"{src} -> {dst}: {_listed(closed)} (expected open)",
             measured={str(p): v[0] for p, v in closed.items()}, expected="open", hint=hint)
    if unknown:
        detail = next(iter(unknown.values()))[1]
        raise Unavailable(f"{src} -> {dst}: {', '.join(map(_name, sorted(unknown)))} not "
                          f"tested: {detail}")
