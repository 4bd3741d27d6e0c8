"""Pairwise bandwidth (iperf3), and which node or link is to blame when it is low.

Judged here from the recorded figures under the expectations of this check
(`preflight.pairjudge`): `preflight check --from RUN --expect nic_gbps=...` re-judges."""

from typing import Any

from preflight.checks.check_ports import fail_unconnected
from preflight.config import Expectations
from preflight.facts import NodeFacts
from preflight.fixtures import pair_entry
from preflight.pairjudge import blame, judge, judge_node
from preflight.verdict import fail, observe, skip

HINT = ("a slow node: check its NIC speed/duplex (ethtool), tc qdiscs, CPU frequency and "
        "IRQ affinity; a slow link alone: check that cable and switch port")


def check_iperf3_bandwidth(pair: tuple[str, str], iperf_probe: dict[str, Any],
                           expect: Expectations) -> None:
    src, dst = pair
    entry = pair_entry(iperf_probe, pair)
    fail_unconnected(iperf_probe, entry, src, dst)
    if entry.get("error"):
        raise RuntimeError(f"{src} -> {dst}: {entry['error']}")
    judged = judge(iperf_probe, expect)
    floor, gbps = judged.rule.floor_gbps, entry["gbps"]
    observe(gbps, expected=f">= {floor:.3g}" if floor else None, unit="Gbit/s")
    if not judged.passed[f"{src}|{dst}"]:
        fail(f"{src} -> {dst}: {gbps:.3g} Gbit/s, expected >= {floor:.3g} "
             f"({judged.rule.basis}){blame(judged, src, dst)}", hint=HINT,
             reason="bandwidth-low")


def check_bandwidth_isolation(node: NodeFacts, iperf_probe: dict[str, Any],
                              expect: Expectations) -> None:
    if not iperf_probe.get("pairs"):
        skip("no pairwise bandwidth measured")
    judge_node(iperf_probe, expect, node.name, HINT)
