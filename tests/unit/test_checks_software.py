"""version_consistent: one result per node for every component, its reason the first
mismatch's (the findings group by it), its message and hint naming each mismatch."""

from __future__ import annotations

from typing import Any

from preflight import verdict
from preflight.checks import check_software
from tests.faults.recorded import cluster_of, judge

HUNG_SMI = {"nvidia_smi_q": {"timed_out": True, "duration_s": 3, "argv": ["nvidia-smi", "-q"]}}


def facts(driver: str = "550.90.07", nccl: str | None = "2.21.5", **more: Any) -> dict[str, Any]:
    return {"kernel": "6.8.0", "python": "3.11.7",
            "versions": {"driver": driver, "nccl": nccl}, **more}


def run(per_node: dict[str, dict[str, Any]], name: str) -> tuple[str, str, str | None]:
    cluster = cluster_of(per_node)
    return judge(check_software.check_version_consistent, node=cluster.node(name),
                 cluster=cluster)


def test_same_versions_pass_and_are_observed_per_component() -> None:
    nodes = {f"node-{i}": facts() for i in range(1, 4)}
    assert run(nodes, "node-2")[0] == "pass"
    assert verdict.current().measured == {"kernel": "6.8.0", "driver": "550.90.07",
                                          "nccl": "2.21.5", "python": "3.11.7"}


def test_two_mismatches_on_one_node_are_one_result_naming_both() -> None:
    nodes = {f"node-{i}": facts() for i in range(1, 5)}
    nodes["node-3"] = facts(driver="535.86.10", nccl="2.18.3")
    status, message, hint = run(nodes, "node-3")
    assert status == "fail"
    assert "driver 535.86.10, the other 3 of 4 nodes have 550.90.07" in message
    assert "nccl 2.18.3, the other 3 of 4 nodes have 2.21.5" in message
    assert verdict.current().reason == "driver-differs"  # COMPONENTS order: driver first
    assert hint is not None and "NVIDIA driver" in hint and "NCCL build" in hint
    assert run(nodes, "node-1")[0] == "pass"


def test_a_component_missing_here_fails_and_one_missing_everywhere_is_left_out() -> None:
    nodes = {f"node-{i}": facts(nccl=None) for i in range(1, 4)}
    assert run(nodes, "node-1")[0] == "pass"  # no node has NCCL: nothing to compare
    nodes = {f"node-{i}": facts() for i in range(1, 4)} | {"node-4": facts(nccl=None)}
    status, message, _ = run(nodes, "node-4")
    assert (status, verdict.current().reason) == ("fail", "nccl-missing")
    assert "no nccl found; other nodes have 2.21.5 on node-[1-3]" in message


def test_a_split_cluster_names_its_halves_as_hostlists_not_every_node() -> None:
    nodes = {f"node-{i}": facts(nccl="2.21.5" if i % 2 else "2.18.3") for i in range(1, 201)}
    status, message, _ = run(nodes, "node-1")
    assert (status, verdict.current().reason) == ("fail", "nccl-no-majority")
    assert len(message) < 400, message  # bounded per message, not 200 names in each of 200


def test_an_unreadable_source_is_an_error_unless_a_mismatch_fails_first() -> None:
    nodes = {f"node-{i}": facts() for i in range(1, 4)}
    nodes["node-2"] = facts(tools=HUNG_SMI)
    status, message, _ = run(nodes, "node-2")
    assert status == "error" and "timed out" in message
    nodes["node-2"] = facts(nccl="2.18.3", tools=HUNG_SMI)
    assert run(nodes, "node-2")[0] == "fail"
