"""Pairwise bandwidth (iperf3), and which node or link is to blame when it is low."""

from typing import Any

from preflight.facts import NodeFacts
from preflight.fixtures import pair_entry
from preflight.verdict import fail, observe, skip

HINT = ("a slow node: check its NIC speed/duplex (ethtool), tc qdiscs, CPU frequency and "
        "IRQ affinity; a slow link alone: check that cable and switch port")


def check_iperf3_bandwidth(pair: tuple[str, str], iperf_probe: dict[str, Any]) -> None:
    src, dst = pair
    entry = pair_entry(iperf_probe, pair)
    floor = iperf_probe.get("floor_gbps")
    if entry.get("error"):
        raise RuntimeError(f"{src} -> {dst}: {entry['error']}")
    gbps = entry["gbps"]
    observe(gbps, expected=f">= {floor:.3g}" if floor else None, unit="Gbit/s")
    if not entry.get("passed"):
        blame = _blame(iperf_probe, src, dst)
        fail(f"{src} -> {dst}: {gbps:.3g} Gbit/s, expected >= {floor:.3g} "
             f"({iperf_probe.get('floor_basis')}){blame}", hint=HINT)


def _blame(probe: dict[str, Any], src: str, dst: str) -> str:
    suspects = probe.get("suspects", {})
    for node in (src, dst):
        if node in suspects.get("nodes", []):
            return f"; {node} is the slow node"
    if [src, dst] in suspects.get("links", []) or [dst, src] in suspects.get("links", []):
        return "; this link only"
    return ""


def check_bandwidth_isolation(node: NodeFacts, iperf_probe: dict[str, Any]) -> None:
    node_name = node.name
    suspects = iperf_probe.get("suspects", {})
    if not iperf_probe.get("pairs"):
        skip("no pairwise bandwidth measured")
    notes = [n for n in suspects.get("notes", []) if n.startswith(f"{node_name} (")]
    observe("slow" if node_name in suspects.get("nodes", []) else "ok", expected="ok")
    if node_name in suspects.get("nodes", []):
        fail(f"{notes[0] if notes else node_name + ' is slow with several partners'}",
             hint=HINT)
