"""The network path between nodes: full-size packets must get through unfragmented."""

from typing import Any

from preflight.fixtures import pair_entry
from preflight.verdict import Unavailable, fail, observe, skip

SAME_MTU = "set the same MTU on every node's cluster interface and on the switch ports"
NOT_JUDGED = {"no-reply", "no-ping", "error"}


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
