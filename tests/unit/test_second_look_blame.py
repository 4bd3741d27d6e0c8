"""The checks read the second look: on a recorded sampled ports probe where only A -> B
failed, the retests (A with a node that passed, B with another) decide whom the findings
blame: B when B fails again, the link A-B when both ends pass again."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from preflight import verdict
from preflight.checks import check_ports
from preflight.config import Expectations
from preflight.lifecycle import collect_matrices
from preflight.results import Result, RunRecord, Status
from preflight.second_look_blame import looked_suspects
from tests.faults.recorded import judge

NODES = [f"node-{i}" for i in range(1, 7)]
OPEN = {"22": ["open", ""], "29500": ["open", ""]}
FILTERED = {"22": ["open", ""], "29500": ["filtered", "no answer in 3 s"]}

# A ring schedule as measurements.json records it: node-3 (A) -> node-4 (B) is the only
# failing pair; the second look retested A -> node-1 (C) and node-6 (D) -> B.
RECORDED: dict[str, Any] = {
    "ports": [22, 29500], "ephemeral": [],
    "pairs": {f"{a}|{b}": copy.deepcopy(OPEN)
              for a, b in zip(NODES, NODES[1:] + NODES[:1], strict=True)},
    "schedule": {"level": "standard", "targets_per_node": 1},
    "second_look": {"node-3|node-4": {"src_with": ["node-1", OPEN],
                                      "dst_with": ["node-6", FILTERED], "blame": "dst"}},
}
RECORDED["pairs"]["node-3|node-4"] = copy.deepcopy(FILTERED)


def both_pass_again() -> dict[str, Any]:
    probe = copy.deepcopy(RECORDED)
    probe["second_look"]["node-3|node-4"].update(dst_with=["node-6", OPEN], blame="link")
    return probe


def run_of(probe: dict[str, Any]) -> RunRecord:
    """Every source judged by tcp_ports as the plugin would, then the run's findings."""
    results = []
    for node in NODES:
        status, message, hint = judge(check_ports.check_tcp_ports,
                                      node=SimpleNamespace(name=node), ports_probe=probe)
        seen = verdict.current()
        results.append(Result(id=f"x::tcp_ports[{node}]", check="tcp_ports", family="ports",
                              status=Status(status), node=node, message=message, hint=hint,
                              reason=seen.reason, targets=seen.targets))
    return RunRecord("0", [], "", hosts=NODES, results=results,
                     matrices=collect_matrices({"ports": probe}, Expectations()))


def test_b_failing_again_with_a_healthy_partner_is_blamed_not_a() -> None:
    run = run_of(RECORDED)
    failed = [r for r in run.results if r.status is Status.FAIL]
    assert [r.node for r in failed] == ["node-3"]  # A's result: A cannot reach B
    assert failed[0].message.endswith(
        "(second look: node-3 -> node-1 passes, node-6 -> node-4 fails)")
    assert "INPUT rules on node-4" in str(failed[0].hint)
    (finding,) = run.findings()
    assert (finding.scope, finding.action, finding.nodes) == ("nodes", "exclude", ["node-4"])
    assert run.bad_nodes() == ["node-4"]


def test_both_ends_passing_again_is_the_link_a_b() -> None:
    run = run_of(both_pass_again())
    (failed,) = [r for r in run.results if r.status is Status.FAIL]
    assert failed.message.endswith("(second look: node-3 -> node-1 passes, "
                                   "node-6 -> node-4 passes)")
    assert failed.hint == check_ports.LOOKED_HINTS["link"].format(src="node-3", dst="node-4")
    (finding,) = run.findings()
    assert (finding.scope, finding.action) == ("links", "check-link")
    assert finding.pairs == [["node-3", "node-4"]] and run.bad_nodes() == []


def test_a_failing_again_blames_a_and_the_retests_are_the_suspect_notes() -> None:
    probe = copy.deepcopy(RECORDED)
    probe["second_look"]["node-3|node-4"].update(
        src_with=["node-1", FILTERED], dst_with=["node-6", OPEN], blame="src")
    run = run_of(probe)
    (failed,) = [r for r in run.results if r.status is Status.FAIL]
    assert failed.hint == check_ports.LOOKED_HINTS["src"].format(src="node-3", dst="node-4")
    assert run.bad_nodes() == ["node-3"]
    assert looked_suspects(probe)["notes"] == [
        "node-3: node-3 -> node-4 failed; second look: node-3 -> node-1 fails, "
        "node-6 -> node-4 passes"]


def test_without_a_second_look_a_lone_failing_pair_stays_a_link() -> None:
    probe = copy.deepcopy(RECORDED)
    probe["second_look"] = {"node-3|node-4": {"src_with": ["node-1", None],
                                              "dst_with": ["node-6", OPEN],
                                              "blame": "unknown"}}
    run = run_of(probe)
    (finding,) = run.findings()
    assert finding.scope == "links" and looked_suspects(probe) == {
        "nodes": [], "links": [], "notes": []}
