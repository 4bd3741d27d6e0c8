"""Software the job needs must match on every node: the odd node out fails."""

import pytest

from preflight.facts import ClusterFacts, NodeFacts, majority
from preflight.verdict import fail, observe, skip

COMPONENTS = ("kernel", "driver", "cuda", "nccl", "torch", "python")
HINTS = {
    "driver": "install the same NVIDIA driver on every node (mismatches break NCCL and CUDA)",
    "cuda": "use one CUDA version across nodes (container image or module)",
    "nccl": "use one NCCL build on every node: ranks with different NCCL versions hang",
    "torch": "install the same torch build everywhere (same container image or venv)",
    "python": "use the same Python on every node",
    "kernel": "run the same kernel on every node (driver and RDMA modules depend on it)",
}


@pytest.mark.parametrize("component", COMPONENTS)
def check_version_consistent(node: NodeFacts, cluster: ClusterFacts, component: str) -> None:
    versions = cluster.values(lambda n: n.version(component))
    mine = node.version(component)
    if not versions:
        skip(f"no node reports a {component} version")
    observe(mine, expected="the same on every node")
    if mine is None:
        fail(f"{node.name}: no {component} found; other nodes have "
             f"{_summary(versions)}", measured=None, hint=HINTS[component],
             reason=f"{component}-missing")
    common, count, total = majority(versions.values())
    if common is None and len(set(versions.values())) > 1:
        fail(f"{node.name}: {component} {mine}; nodes disagree with no majority: "
             f"{_summary(versions)}", measured=mine, hint=HINTS[component],
             reason=f"{component}-no-majority")
    if common is not None and mine != common:
        fail(f"{node.name}: {component} {mine}, the other {count} of {total} nodes have "
             f"{common}", measured=mine, expected=common, hint=HINTS[component],
             reason=f"{component}-differs")


def _summary(versions: dict[str, str]) -> str:
    by_value: dict[str, list[str]] = {}
    for name, value in versions.items():
        by_value.setdefault(str(value), []).append(name)
    return "; ".join(f"{v} on {', '.join(names)}" for v, names in by_value.items())
