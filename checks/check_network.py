"""The network path between nodes: full-size packets must get through unfragmented."""

from typing import Any

from preflight.checks.check_ports import pointed
from preflight.facts import ClusterFacts, NodeFacts
from preflight.fixtures import pair_entry
from preflight.verdict import Unavailable, fail, observe, skip

SAME_MTU = "set the same MTU on every node's cluster interface and on the switch ports"
NOT_JUDGED = {"no-ping", "error"}
NO_REPLY_HINT = ("{dst} answers no ping from {src}: a firewall drops ICMP (allow echo and "
                 "'fragmentation needed', or path MTU discovery breaks too) or there is no "
                 "route back")


def _mtu_of(probe: dict[str, Any], node: str) -> str:
    iface, mtu = probe.get("mtus", {}).get(node, ["?", None])
    return f"{node}'s {iface} MTU is {mtu}"


def check_path_mtu(pair: tuple[str, str], mtu_probe: dict[str, Any]) -> None:
    src, dst = pair
    mtu = mtu_probe.get("mtu")
    if mtu is None:
        skip("no interface MTU known on any node")
    verdict, detail = pair_entry(mtu_probe, pair)
    observe(verdict, expected=f"{mtu}-byte packets pass")
    if verdict in NOT_JUDGED:
        raise Unavailable(f"{src} -> {dst}: path MTU not measured: {verdict} ({detail})")
    if verdict == "no-reply":
        hint, note, reason = pointed(mtu_probe, "ping", lambda e: e[0] != "no-reply", src, dst,
                                     ["no-reply"])
        fail(f"{src} -> {dst}: no reply even to small pings, so the path MTU cannot be "
             f"measured{note}", measured=verdict, expected="replies",
             hint=NO_REPLY_HINT.format(src=src, dst=dst) if reason == "port-no-reply" else hint,
             reason="no-reply" if reason == "port-no-reply" else reason)
    if verdict == "local-mtu-smaller":
        fail(f"{src} -> {dst}: {mtu}-byte packets cannot leave {src}: {_mtu_of(mtu_probe, src)}"
             f" (expected {mtu})", hint=f"set MTU {mtu} on {src}; {SAME_MTU}")
    if verdict == "path-mtu-smaller":
        fail(f"{src} -> {dst}: {mtu}-byte packets do not pass: {detail} (expected {mtu})",
             hint=f"raise the MTU of the switch or router ports between them; {SAME_MTU}")
    if verdict != "ok":
        fail(f"{src} -> {dst}: {mtu}-byte packets lost ({verdict}: {detail}); "
             f"{_mtu_of(mtu_probe, dst)} (expected {mtu})",
             hint=f"a smaller MTU on {dst} or on a switch port drops large packets; {SAME_MTU}")


SOURCE_HINT = ("route the cluster subnet out of the address the other nodes know this node by "
               "(ip route get <peer>; ip route replace <subnet> dev <if> src <address>, or "
               "policy routing on a multi-homed node)")


def check_source_address(node: NodeFacts, cluster: ClusterFacts) -> None:
    sources = (node.get("network") or {}).get("sources") or {}
    known = cluster.resolved_address(node.name)
    if not sources or known is None:
        skip("no source addresses gathered, or no agreed address for this node")
    others: dict[str, list[str]] = dict(sources.get("others") or {})
    wrong = {source: [n for n in names if n != node.name] for source, names in others.items()
             if source != known}
    if sources.get("usual") != known:  # the peers not listed: every one reached from it
        wrong[str(sources.get("usual"))] = [f"{sources.get('count')} nodes"]
    wrong = {source: names for source, names in wrong.items() if names}
    observe(sorted(wrong) or known, expected=known)
    if wrong:
        listed = "; ".join(f"towards {_few(names)} from {source}"
                           for source, names in sorted(wrong.items()))
        fail(f"{node.name}: sends {listed}, but the other nodes reach it at {known}: "
             "their replies go to an address it does not answer on", measured=sorted(wrong),
             expected=known, hint=SOURCE_HINT, reason="source-address")


def _few(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
