"""Software the job needs must match on every node: the odd node out fails."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from preflight.facts import ClusterFacts, NodeFacts, majority_counted
from preflight.fixtures import targets_text
from preflight.verdict import Unavailable, fail, observe, skip

COMPONENTS = ("kernel", "driver", "cuda", "nccl", "torch", "python")
HINTS = {
    "driver": "install the same NVIDIA driver on every node (mismatches break NCCL and CUDA)",
    "cuda": "use one CUDA version across nodes (container image or module)",
    "nccl": "use one NCCL build on every node: ranks with different NCCL versions hang",
    "torch": "install the same torch build everywhere (same container image or venv)",
    "python": "use the same Python on every node",
    "kernel": "run the same kernel on every node (driver and RDMA modules depend on it)",
}


@dataclass(frozen=True)
class Mismatch:
    component: str
    reason: str
    message: str
    measured: Any
    expected: Any = None


def check_version_consistent(node: NodeFacts, cluster: ClusterFacts) -> None:
    """Every component's version on this node against the other nodes': one result per node
    (not per component: 6 per node at 1,024 nodes was 6,144 results). Its reason is the
    first mismatch's in COMPONENTS order, so the findings group by it; the message names
    every mismatch and the hint says what to do for each."""
    mine: dict[str, Any] = {}
    mismatches: list[Mismatch] = []
    unknown: list[Unavailable] = []
    for component in COMPONENTS:
        counts = cluster.counted(_version_of(component))  # once per run, not per node
        if not counts:
            continue  # no node reports it (no torch anywhere, say): nothing to compare
        try:
            mine[component] = node.version(component)
        except Unavailable as exc:
            unknown.append(exc)
            continue
        mismatch = _mismatch(cluster, component, mine[component], counts)
        if mismatch is not None:
            mismatches.append(mismatch)
    if not mine and not unknown:
        skip("no node reports a version of " + ", ".join(COMPONENTS))
    observe(mine, expected="the same on every node")
    if mismatches:
        first = mismatches[0]
        fail(f"{node.name}: " + "; ".join(m.message for m in mismatches),
             measured=first.measured, expected=first.expected, reason=first.reason,
             hint="; ".join(HINTS[m.component] for m in mismatches))
    if unknown:
        raise unknown[0]


def _version_of(component: str) -> Callable[[NodeFacts], Any]:
    return lambda n: n.version(component)  # one code, one captured value: kept per component


def _mismatch(cluster: ClusterFacts, component: str, mine: Any,
              counts: Counter[Any]) -> Mismatch | None:
    if mine is None:
        return Mismatch(component, f"{component}-missing",
                        f"no {component} found; other nodes have {_summary(cluster, component)}",
                        None)
    common, count, total = majority_counted(counts)
    if common is None and len(counts) > 1:
        return Mismatch(component, f"{component}-no-majority",
                        f"{component} {mine}; nodes disagree with no majority: "
                        f"{_summary(cluster, component)}", mine)
    if common is not None and mine != common:
        return Mismatch(component, f"{component}-differs",
                        f"{component} {mine}, the other {count} of {total} nodes have "
                        f"{common}", mine, common)
    return None


def _summary(cluster: ClusterFacts, component: str) -> str:
    by_value: dict[str, list[str]] = {}
    for name, value in cluster.values(_version_of(component)).items():
        by_value.setdefault(str(value), []).append(name)
    # each value's nodes as a capped hostlist: every failing node's message names them, so
    # a full list would be N names in each of up to N messages
    return "; ".join(f"{v} on {targets_text(names)}" for v, names in by_value.items())
