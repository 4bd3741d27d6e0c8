"""RDMA write bandwidth (ib_write_bw) per pair and rail, and which node or link is slow."""

from typing import Any

from preflight.checks.check_ports import fail_unconnected
from preflight.config import Expectations
from preflight.facts import NodeFacts
from preflight.fixtures import pair_entry
from preflight.measure.rails import floor_basis, rail_floor
from preflight.pairjudge import blame, judge, judge_node, rail_settings, slow_rails
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


def _rail_text(device: str, rail: dict[str, Any], floor: float | None) -> str:
    where = device if rail["peer"] == device else f"{device}->{rail['peer']}"
    if rail["gbps"] is None:
        return f"{where} failed ({rail['error']})"
    shown = "" if floor is None else f" (expected >= {floor:g})"
    return f"{where} {rail['gbps']:.4g} Gbit/s{shown}"


def _listed(bad: dict[str, dict[str, Any]], floors: dict[str, float], shown: int = 3) -> str:
    ordered = sorted(bad.items(), key=lambda item: item[1]["gbps"] or 0.0)
    one_floor = len(set(floors.values())) == 1
    texts = [_rail_text(dev, r, None if one_floor else floors[dev]) for dev, r in ordered[:shown]]
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(texts) + more


def check_ib_write_bw(pair: tuple[str, str], ib_write_bw_probe: dict[str, Any],
                      expect: Expectations) -> None:
    src, dst = pair
    _skip_untestable(ib_write_bw_probe, pair)
    entry = pair_entry(ib_write_bw_probe, pair)
    fail_unconnected(ib_write_bw_probe, entry, src, dst)
    if entry.get("error"):
        raise Unavailable(f"{src} -> {dst}: ib_write_bw: {entry['error']}",
                          reason="ib-write-bw-error")
    settings = rail_settings(ib_write_bw_probe, expect)
    rails = entry["rails"]
    floors = {dev: rail_floor(r["port_rate_gbps"], settings) for dev, r in rails.items()}
    lowest = min(floors.values())
    bad = slow_rails(rails, settings)
    observe(entry["gbps"], expected=f">= {lowest:g}", unit="Gbit/s")
    if bad:
        below = (f"below {lowest:g} Gbit/s" if len(set(floors.values())) == 1
                 else "below their floors")
        fail(f"{src} -> {dst}: {len(bad)}/{len(rails)} rails {below} "
             f"({floor_basis(settings)}): {_listed(bad, floors)}"
             f"{blame(judge(ib_write_bw_probe, expect), src, dst)}",
             measured={dev: r["gbps"] for dev, r in bad.items()}, hint=HINT,
             reason="rail-slow")


def check_ib_write_bw_isolation(node: NodeFacts, ib_write_bw_probe: dict[str, Any],
                                expect: Expectations) -> None:
    _skip_untestable(ib_write_bw_probe, (node.name,))
    if not ib_write_bw_probe.get("pairs"):
        skip("no ib_write_bw pair measured (fewer than two nodes with IB and perftest)")
    judge_node(ib_write_bw_probe, expect, node.name, HINT)
