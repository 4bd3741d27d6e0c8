"""The TCP ports a job needs, from every node to every other node."""

from collections.abc import Callable, Collection
from typing import Any

from preflight.blame import directions
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


# Where the rest of the matrix points, for a failing src -> dst (preflight.blame.Directions).
DIRECTION_HINTS = {
    "source": "{src} cannot connect out to any node while every node reaches it: check "
              "{src}'s routes, the source address it sends from (ip route get) and its "
              "OUTPUT rules",
    "one-way": "one-way: {dst} -> {src} works, {src} -> {dst} does not, so {dst} drops what "
               "{src} sends: check {dst}'s INPUT rules for {src}'s address",
    "both-ways": "only {src} <-> {dst} fails, both ways: a rule on one of them names the "
                 "other's address (iptables -S on both), or the path between them",
}
DIRECTION_NOTES = {"source": " (every connection out of {src} fails)", "one-way": " (one-way)",
                   "both-ways": " (this pair only, both ways)"}


def pointed(probe: dict[str, Any], label: str, passed: Callable[[Any], bool],
            src: str, dst: str, kinds: list[str]) -> tuple[str, str, str]:
    """(hint, note for the message, reason) for a failing src -> dst: the end the rest of
    the probe's matrix points at, else the hints of the failure kinds (about dst)."""
    side = directions(probe.get("pairs", {}), label, passed).blame(src, dst)
    if side in DIRECTION_HINTS:
        return (DIRECTION_HINTS[side].format(src=src, dst=dst),
                DIRECTION_NOTES[side].format(src=src), side)
    hint = " / ".join(HINTS.get(k, "check the network path").format(src=src, dst=dst)
                      for k in kinds)
    return hint, "", f"port-{kinds[0]}"


def fail_unconnected(probe: dict[str, Any], entry: dict[str, Any], src: str, dst: str) -> None:
    """A pair tool's connect that the network refused is a fail naming the port, not an
    error carrying the tool's last words."""
    connect = entry.get("connect")
    if connect:
        verdict = str(connect["verdict"])
        hint, note, reason = pointed(probe, "connect", lambda e: not e.get("connect"),
                                     src, dst, [verdict])
        fail(f"{src} -> {dst}: {connect['text']}{note}", measured=verdict, expected="open",
             hint=hint, reason=reason)


EPHEMERAL_HINT = ("NCCL and gloo listen on ephemeral ports ({low}-{high}, "
                  "net.ipv4.ip_local_port_range) and connect to them between nodes: open that "
                  "range on {dst} to the cluster's nodes, or allow all TCP within the "
                  "security group")


def _name(port: int, ephemeral: Collection[int] = ()) -> str:
    if port in KNOWN_PORTS:
        return f"TCP {port} ({KNOWN_PORTS[port]})"
    return f"TCP {port} (ephemeral)" if port in ephemeral else f"TCP {port}"


def _listed(verdicts: dict[int, list[str]], ephemeral: list[int]) -> str:
    return ", ".join(f"{_name(port, ephemeral)} {v[0]}" for port, v in sorted(verdicts.items()))


def check_tcp_ports(pair: tuple[str, str], ports_probe: dict[str, Any]) -> None:
    src, dst = pair
    verdicts = {int(port): v for port, v in pair_entry(ports_probe, pair).items()}
    closed = {port: v for port, v in verdicts.items() if v[0] not in ("open", "error")}
    unknown = {port: v for port, v in verdicts.items() if v[0] == "error"}
    observe(len(verdicts) - len(closed) - len(unknown), expected=f"{len(verdicts)} open",
            unit="ports")
    if closed:
        kinds = sorted({v[0] for v in closed.values()})
        port = str(min(closed))
        hint, note, reason = pointed(ports_probe, f"port:{port}",
                                     lambda e: e.get(port, ["open"])[0] == "open",
                                     src, dst, kinds)
        ephemeral = list(ports_probe.get("ephemeral") or [])
        if reason.startswith("port-") and set(closed) <= set(ephemeral):
            low, high = ports_probe.get("ephemeral_range") or ["?", "?"]
            hint, reason = EPHEMERAL_HINT.format(low=low, high=high, dst=dst), "ephemeral-closed"
        fail(f"{src} -> {dst}: {_listed(closed, ephemeral)} (expected open){note}",
             measured={str(p): v[0] for p, v in closed.items()}, expected="open", hint=hint,
             reason=reason)
    if unknown:
        detail = next(iter(unknown.values()))[1]
        raise Unavailable(f"{src} -> {dst}: {', '.join(map(_name, sorted(unknown)))} not "
                          f"tested: {detail}")
