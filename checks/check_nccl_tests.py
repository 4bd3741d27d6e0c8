"""nccl-tests (opt-in, --nccl-tests): each node alone, then all nodes in one job.

The verdicts are computed by preflight.nccl_tests.judge from the recorded runs; these
checks only report them. Busbw is compared at large messages (>= 1 GiB) with the profile
floor, the hardware-derived floor or 0.7 x the cluster median (nccl_tests/thresholds.py).
"""

from typing import Any

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
from preflight.nccl_tests import judge
from preflight.nccl_tests.thresholds import Floor, compute_nic_gbps, internode_floor
from preflight.results import Status
from preflight.verdict import Unavailable, fail, observe, skip, warn


def check_single_node(node: NodeFacts, nccl_collective: str, nccl_single_probe: dict[str, Any],
                      nccl_single_floors: dict[str, Floor | None]) -> None:
    floor = nccl_single_floors.get(nccl_collective)
    _report(judge.single_node_verdict(nccl_single_probe, node.name, nccl_collective, floor))


def check_multi_node(cluster: ClusterFacts, expect: Expectations, nccl_collective: str,
                     nccl_multi_probe: dict[str, Any], nccl_single_probe: dict[str, Any],
                     nccl_single_floors: dict[str, Floor | None]) -> None:
    record = nccl_multi_probe.get("runs", {}).get(nccl_collective) or {}
    floor = internode_floor(nccl_collective, expect,
                            _nic_gbps(cluster, expect, record.get("nodes") or []))
    _report(judge.multi_node_verdict(nccl_multi_probe, nccl_single_probe, nccl_collective,
                                     floor, nccl_single_floors.get(nccl_collective)))


def _nic_gbps(cluster: ClusterFacts, expect: Expectations, names: list[str]) -> dict[str, float]:
    """Compute-NIC Gbit/s of every node in the job; {} (no hardware floor) if one is unknown."""
    found = cluster.values(lambda node: compute_nic_gbps(node.ib_ports, expect))
    if not all(name in found for name in names):
        return {}
    return {name: found[name] for name in names}


def _report(verdict: judge.Verdict) -> None:
    __tracebackhide__ = True
    unit = verdict.unit if verdict.measured is not None else None
    observe(verdict.measured, expected=verdict.expected, unit=unit, hint=verdict.hint,
            reason=verdict.reason)
    if verdict.status is Status.SKIP:
        skip(verdict.message)
    if verdict.status is Status.ERROR:
        raise Unavailable(verdict.message, hint=verdict.hint, reason=verdict.reason)
    if verdict.status is Status.WARN:
        warn(verdict.message)
    if verdict.status is Status.FAIL:
        fail(verdict.message)
