"""The network path between nodes: full-size packets must get through unfragmented. One
result per source node, its failing targets listed; every pair stays in the path_mtu matrix."""

from typing import Any

from preflight.facts import NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.verdict import Unavailable, against, fail, observe, skip

SAME_MTU = "set the same MTU on every node's cluster interface and on the switch ports"
NOT_JUDGED = {"no-reply", "no-ping", "error"}
REASONS = {"local-mtu-smaller": "mtu-local-smaller", "path-mtu-smaller": "mtu-path-smaller"}


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
