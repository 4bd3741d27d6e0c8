"""Running preflight on a fault-matrix cluster and reading what it said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cluster.helpers import Run, run_preflight
from tests.sim.cluster import SimCluster

HOSTS = 6
# The pairwise bandwidth probe is the slow part of a full run; a second per pair is enough
# to tell a healthy link from a shaped one.
QUICK_BANDWIDTH = ("--expect", "iperf_seconds=1")
# Every pair measured (the all-to-all probes take every pair at 6 hosts at any level): what
# the healthy repeats and the faults between pairs need. The default schedule, the ring,
# measures each node with two partners: 4 steps of tests instead of the mesh's 10.
MESH = "mesh"
DEFAULT_PAIRS = "ring"


def result_key(result: dict[str, Any]) -> str:
    """'gpu_count[node-3]' from 'check_gpu.py::check_gpu_count[node-3]'."""
    return str(result["id"]).rsplit("::", 1)[-1].removeprefix("check_")


def involves(result: dict[str, Any], node: str) -> bool:
    """The result is about node: its node, an end of its pair, or (a per-source result of
    an all-to-all check) one of its failing targets."""
    targets = (result.get("targets") or {}).values()
    return node in (result.get("pair") or [result.get("node")]) or any(
        node in nodes for nodes in targets)


def full_run(cluster: SimCluster, out: Path, *args: str, pairs: str = DEFAULT_PAIRS,
             timeout: float = 300) -> Run:
    """`preflight run` with every default check (pairwise probes included), on `pairs`."""
    return run_preflight(*cluster.preflight_args(), *QUICK_BANDWIDTH, "--pairs", pairs, *args,
                         out=out, timeout=timeout)


def leftovers(cluster: SimCluster) -> dict[str, list[tuple[int, str]]]:
    """Processes still running on any host after a run (sshd's listener aside)."""
    return {name: procs for name in cluster.names if (procs := cluster.processes_left(name))}
