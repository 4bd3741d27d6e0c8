"""The TCP ports a job needs, from every node to every other node: one result per source
node (its unreachable targets listed in it, the end to blame told from the rest of the
matrix); every pair stays in the ports matrices."""

from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from preflight.blame import directions
from preflight.facts import NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.second_look_blame import looked, looked_note
from preflight.verdict import Unavailable, against, fail, observe

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
# The end a second look (preflight.second_look_blame) blamed, where it is not dst (the
# failure kinds' own hints are about dst).
LOOKED_HINTS = {
    "src": "{src} also fails towards a node that passed, while another reaches {dst}: check "
           "{src}'s routes, the source address it sends from (ip route get) and its OUTPUT "
           "rules",
    "link": "only {src} -> {dst} fails: each end passes with another node, so a rule on one "
            "of them names the other's address (iptables -S on both), or the path between "
            "them (cable, switch port)",
}
DIRECTION_NOTES = {"source": " (every connection out of {src} fails)", "one-way": " (one-way)",
                   "both-ways": " (this pair only, both ways)"}


def pointed(probe: dict[str, Any], label: str, passed: Callable[[Any], bool],
            src: str, dst: str, kinds: list[str]) -> tuple[str, str, str]:
    """(hint, note for the message, reason) for a failing src -> dst: the end its second
    look blamed, else the end the rest of the probe's matrix points at, else the hints of
    the failure kinds (about dst)."""
    side = directions(probe.get("pairs", {}), label, passed).blame(src, dst)
    second = looked(probe, src, dst)
    if second and not (second["blame"] == "link" and side in ("one-way", "both-ways")):
        return _looked(second, src, dst, kinds)
    if side in DIRECTION_HINTS:
        return (DIRECTION_HINTS[side].format(src=src, dst=dst),
                DIRECTION_NOTES[side].format(src=src), side)
    return _kind_hints(src, dst, kinds), "", f"port-{kinds[0]}"


def _looked(second: dict[str, Any], src: str, dst: str,
            kinds: list[str]) -> tuple[str, str, str]:
    blame, note = second["blame"], looked_note(second, src, dst)
    if blame == "src":
        return LOOKED_HINTS["src"].format(src=src, dst=dst), note, "source"
    if blame == "link":
        return LOOKED_HINTS["link"].format(src=src, dst=dst), note, "link"
    hint = _kind_hints(src, dst, kinds)
    if blame == "both":
        hint = f"{hint} / {LOOKED_HINTS['src'].format(src=src, dst=dst)}"
    return hint, note, f"port-{kinds[0]}"


def _kind_hints(src: str, dst: str, kinds: list[str]) -> str:
    return " / ".join(HINTS.get(k, "check the network path").format(src=src, dst=dst)
                      for k in kinds)


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


def check_tcp_ports(node: NodeFacts, ports_probe: dict[str, Any]) -> None:
    src = node.name
    entries = source_entries(ports_probe, src)
    ephemeral = list(ports_probe.get("ephemeral") or [])
    closed: dict[tuple[int, str], list[str]] = {}
    unknown: dict[str, str] = {}
    for dst, verdicts in entries.items():
        for port, (kind, detail) in verdicts.items():
            if kind == "error":
                unknown.setdefault(dst, f"{_name(int(port), ephemeral)}: {detail}")
            elif kind not in ("open", "untested"):
                closed.setdefault((int(port), kind), []).append(dst)
    targets = sorted({dst for dsts in closed.values() for dst in dsts})
    observe(len(entries) - len(targets), expected=f"{len(entries)} peers open", unit="peers")
    if closed:
        _fail_closed(src, closed, ports_probe, ephemeral)
    if unknown:
        dst, detail = next(iter(unknown.items()))
        if not closed:  # the peers it could not test are what this result is about
            against({"ports-not-tested": sorted(unknown)})
        raise Unavailable(f"{src}: {len(unknown)} peer(s) not tested, e.g. {dst}: {detail}",
                          reason="ports-not-tested")


def _reason(port: int, kind: str, ephemeral: Collection[int]) -> str:
    return f"tcp-ephemeral-{kind}" if port in ephemeral else f"tcp-{port}-{kind}"


def _fail_closed(src: str, closed: dict[tuple[int, str], list[str]],
                 probe: dict[str, Any], ephemeral: list[int]) -> None:
    __tracebackhide__ = True
    (port, kind), _ = Counter({k: len(v) for k, v in closed.items()}).most_common(1)[0]
    first = sorted(closed[(port, kind)])[0]
    hint, note, side = pointed(probe, f"port:{port}",
                               lambda e: e.get(str(port), ["open"])[0] == "open",
                               src, first, [kind])
    if side.startswith("port-"):  # the targets' fault: name them all
        hint = HINTS.get(kind, "check the network path").format(
            src=src, dst=targets_text(closed[(port, kind)]))
        if port in ephemeral:
            low, high = probe.get("ephemeral_range") or ["?", "?"]
            hint = EPHEMERAL_HINT.format(low=low, high=high, dst=targets_text(
                closed[(port, kind)]))
    by_reason: dict[str, list[str]] = {}
    for (p, k), dsts in closed.items():
        by_reason.setdefault(_reason(p, k, ephemeral), []).extend(dsts)
    against(by_reason)
    listed = "; ".join(f"{_name(p, ephemeral)} {k} to {targets_text(d)}"
                       for (p, k), d in sorted(closed.items()))
    fail(f"{src}: {listed} (expected open){note}",
         measured={f"{p}": k for (p, k) in closed}, expected="open", hint=hint,
         reason=_reason(port, kind, ephemeral))
