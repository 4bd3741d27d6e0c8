"""RDMA write bandwidth (ib_write_bw) per pair and rail, and which node or link is slow."""

from typing import Any

from preflight.facts import NodeFacts
from preflight.fixtures import pair_entry
from preflight.measure.pairwise import blame, judge_node
from preflight.verdict import Unavailable, fail, observe, skip

HINT = ("a slow node: check its HCAs' PCIe width/speed (lspci -vv), firmware, NUMA/GPU "
        "affinity and ibstat rates; a slow link alone: check that cable and switch port "
        "(ibdiagnet, port counters)")


def _skip_untestable(probe: dict[str, Any], pair: tuple[str, ...]) -> None:
    for node in pair:
        reason = probe.get("unmeasured", {}).get(node)
        if reason:
            raise Unavailable(reason, reason="ib-write-bw-not-run")
        reason = probe.get("skipped", {}).get(node)
        if reason:
            skip(reason)


def _rail_text(device: str, rail: dict[str, Any], floor_shown: bool) -> str:
    where = device if rail["peer"] == device else f"{device}->{rail['peer']}"
    if rail["gbps"] is None:
        return f"{where} failed ({rail['error']})"
    floor = "" if floor_shown else f" (expected >= {rail['floor_gbps']:g})"
    return f"{where} {rail['gbps']:.4g} Gbit/s{floor}"


def _listed(bad: dict[str, dict[str, Any]], floors: list[float], shown: int = 3) -> str:
    ordered = sorted(bad.items(), key=lambda item: item[1]["gbps"] or 0.0)
    texts = [_rail_text(dev, r, len(floors) == 1) for dev, r in ordered[:shown]]
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(texts) + more


def check_ib_write_bw(pair: tuple[str, str], ib_write_bw_probe: dict[str, Any]) -> None:
    src, dst = pair
    _skip_untestable(ib_write_bw_probe, pair)
    entry = pair_entry(ib_write_bw_probe, pair)
    if entry.get("error"):
        raise Unavailable(f"{src} -> {dst}: ib_write_bw: {entry['error']}",
                          reason="ib-write-bw-error")
    rails = entry["rails"]
    bad = {dev: r for dev, r in rails.items()
           if r["gbps"] is None or r["gbps"] < r["floor_gbps"]}
    floors = sorted({r["floor_gbps"] for r in rails.values()})
    observe(entry["gbps"], expected=f">= {floors[0]:g}", unit="Gbit/s")
    if bad:
        below = f"below {floors[0]:g} Gbit/s" if len(floors) == 1 else "below their floors"
        fail(f"{src} -> {dst}: {len(bad)}/{len(rails)} rails {below} "
             f"({ib_write_bw_probe.get('floor_basis')}): {_listed(bad, floors)}"
             f"{blame(ib_write_bw_probe, src, dst)}",
             measured={dev: r["gbps"] for dev, r in bad.items()}, hint=HINT,
             reason="rail-bandwidth-low")


def check_ib_write_bw_isolation(node: NodeFacts, ib_write_bw_probe: dict[str, Any]) -> None:
    _skip_untestable(ib_write_bw_probe, (node.name,))
    if not ib_write_bw_probe.get("pairs"):
        skip("no ib_write_bw pair measured (fewer than two nodes with IB and perftest)")
    judge_node(ib_write_bw_probe, node.name, HINT)
