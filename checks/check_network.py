"""The network path between nodes: full-size packets must get through unfragmented."""

from typing import Any

from preflight.fixtures import pair_entry
from preflight.verdict import fail, observe


def check_path_mtu(pair: tuple[str, str], mtu_probe: dict[str, Any]) -> None:
    src, dst = pair
    verdict, detail = pair_entry(mtu_probe, pair)
    mtu = mtu_probe.get("mtu")
    observe(verdict, expected=f"{mtu}-byte packets pass")
    if verdict == "mtu-too-small-here":
        fail(f"{src} -> {dst}: {mtu}-byte packets cannot leave {src}: its MTU is smaller "
             f"({detail})", hint=f"set MTU {mtu} on {src}'s cluster interface")
    if verdict != "ok":
        fail(f"{src} -> {dst}: {mtu}-byte packets lost: {verdict} ({detail})",
             hint=f"a smaller MTU on {dst} or a switch drops large packets: set the same MTU "
                  "everywhere, including the switch ports")
