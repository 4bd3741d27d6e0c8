"""The network path between nodes: full-size packets must get through unfragmented. One
result per source node, its failing targets listed; every pair stays in the path_mtu matrix."""

from typing import Any

from preflight.checks.check_ports import pointed
from preflight.facts import ClusterFacts, NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.verdict import Unavailable, against, fail, observe, skip

SAME_MTU = "set the same MTU on every node's cluster interface and on the switch ports"
NOT_JUDGED = {"no-ping", "error"}
REASONS = {"local-mtu-smaller": "mtu-local-smaller", "path-mtu-smaller": "mtu-path-smaller"}
NO_REPLY_HINT = ("{dst} answers no ping from {src}: a firewall drops ICMP (allow echo and "
                 "'fragmentation needed', or path MTU discovery breaks too) or there is no "
                 "route back")


def _mtu_of(probe: dict[str, Any], node: str) -> str:
    iface, mtu = probe.get("mtus", {}).get(node, ["?", None])
    return f"{node}'s {iface} MTU is {mtu}"


def _hint(reason: str, src: str, dst: str, mtu: int) -> str:
    if reason == "mtu-local-smaller":
        return f"set MTU {mtu} on {src}; {SAME_MTU}"
    if reason == "mtu-path-smaller":
        return f"raise the MTU of the switch or router ports between them; {SAME_MTU}"
    return f"a smaller MTU on {dst} or on a switch port drops large packets; {SAME_MTU}"


def check_path_mtu(node: NodeFacts, mtu_probe: dict[str, Any]) -> None:
    src = node.name
    mtu = mtu_probe.get("mtu")
    if mtu is None:
        skip("no interface MTU known on any node")
    entries = source_entries(mtu_probe, src)
    bad: dict[str, list[str]] = {}  # verdict -> targets
    unjudged: list[str] = []
    for dst, (verdict, _detail) in entries.items():
        if verdict in NOT_JUDGED:
            unjudged.append(dst)
        elif verdict != "ok":
            bad.setdefault(verdict, []).append(dst)
    observe(len(entries) - sum(map(len, bad.values())), expected=f"{mtu}-byte packets pass",
            unit="peers")
    if "no-reply" in bad:
        _fail_no_reply(src, bad["no-reply"], mtu_probe)
    if bad:
        verdict = max(bad, key=lambda v: len(bad[v]))
        reason = REASONS.get(verdict, "mtu-packets-lost")
        by_reason: dict[str, list[str]] = {}
        for v, dsts in bad.items():
            by_reason.setdefault(REASONS.get(v, "mtu-packets-lost"), []).extend(dsts)
        against(by_reason)
        first = bad[verdict][0]
        listed = "; ".join(f"{v} to {targets_text(d)}" for v, d in sorted(bad.items()))
        fail(f"{src}: {mtu}-byte packets do not pass: {listed} ({entries[first][1]}); "
             f"{_mtu_of(mtu_probe, src)}, {_mtu_of(mtu_probe, first)} (expected {mtu})",
             measured=sorted(bad), expected=mtu,
             hint=_hint(reason, src, targets_text(bad[verdict]), mtu), reason=reason)
    if unjudged:
        verdict, detail = entries[unjudged[0]]
        raise Unavailable(f"{src}: path MTU not measured to {targets_text(unjudged)}: "
                          f"{verdict} ({detail})", reason="mtu-not-measured")


def _fail_no_reply(src: str, targets: list[str], probe: dict[str, Any]) -> None:
    """No reply even to small pings: the path MTU cannot be measured; the end the rest of
    the matrix points at gets the hint."""
    __tracebackhide__ = True
    first = sorted(targets)[0]
    hint, note, side = pointed(probe, "ping", lambda e: e[0] != "no-reply", src, first,
                               ["no-reply"])
    reason = "no-reply" if side == "port-no-reply" else side
    if side == "port-no-reply":
        hint = NO_REPLY_HINT.format(src=src, dst=targets_text(targets))
    against({reason: targets})
    fail(f"{src}: no reply even to small pings from {targets_text(targets)}, so the path MTU "
         f"cannot be measured{note}", measured="no-reply", expected="replies", hint=hint,
         reason=reason)


SOURCE_HINT = ("route the cluster subnet out of the address the other nodes know this node by "
               "(ip route get <peer>; ip route replace <subnet> dev <if> src <address>, or "
               "policy routing on a multi-homed node)")


def check_source_address(node: NodeFacts, cluster: ClusterFacts) -> None:
    sources = node.source_addresses
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
