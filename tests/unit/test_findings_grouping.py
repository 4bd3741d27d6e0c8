"""Findings: results grouped by (check, reason), with scope, action and the exclude brake."""

import pytest

from preflight.errors import UserError
from preflight.findings import compute_findings, exclude_limit, nodes_to_exclude, reason_of
from preflight.results import Result, RunRecord, Status

HOSTS = [f"n{i}" for i in range(1, 9)]


def node_result(node: str, status: Status = Status.FAIL, check: str = "memlock",
                reason: str | None = "memlock-low", measured: object = 8) -> Result:
    return Result(id=f"x::{check}[{node}]", check=check, family="system", status=status,
                  node=node, measured=measured, expected=">= 64", reason=reason,
                  hint="raise memlock")


def source_result(node: str, targets: list[str], **more: list[str]) -> Result:
    return Result(id=f"x::tcp_ports[{node}]", check="tcp_ports", family="ports",
                  status=Status.FAIL, node=node, reason="tcp-29500-filtered",
                  targets={"tcp-29500-filtered": targets, **more})


def pair_result(a: str, b: str) -> Result:
    return Result(id=f"x::iperf[{a}-to-{b}]", check="iperf_bandwidth", family="bandwidth",
                  status=Status.FAIL, pair=(a, b), measured=0.5, reason="bandwidth-low")


def record(results: list[Result], max_exclude: str = "10%") -> RunRecord:
    return RunRecord("0", [], "", hosts=HOSTS, results=results, max_exclude=max_exclude)


def test_a_setting_every_node_shares_is_one_cluster_finding_and_excludes_nobody() -> None:
    run = record([node_result(n) for n in HOSTS])
    (finding,) = run.findings()
    assert (finding.scope, finding.action, finding.count) == ("cluster", "fix-config", 8)
    assert finding.nodes == HOSTS and finding.measured == 8
    assert run.bad_nodes() == []
    assert {r.finding for r in run.results} == {finding.id}


def test_one_node_dropping_a_port_is_a_nodes_finding_naming_it_alone() -> None:
    sources = [source_result(n, ["n3"]) for n in HOSTS if n != "n3"]
    healthy = Result(id="x::tcp_ports[n3]", check="tcp_ports", family="ports",
                     status=Status.PASS, node="n3")
    run = record([*sources, healthy])
    (finding,) = run.findings()
    assert (finding.scope, finding.action, finding.nodes) == ("nodes", "exclude", ["n3"])
    assert len(finding.pairs) == 7 and ["n1", "n3"] in finding.pairs
    assert run.bad_nodes() == ["n3"] and healthy.finding is None


def test_a_bad_pair_between_healthy_nodes_is_a_link() -> None:
    run = record([pair_result("n1", "n2"), pair_result("n2", "n1")])
    (finding,) = run.findings()
    assert (finding.scope, finding.action) == ("links", "check-link")
    assert sorted(finding.pairs) == [["n1", "n2"], ["n2", "n1"]]
    assert run.bad_nodes() == []


def test_one_reason_splits_into_an_outlier_and_a_separate_link() -> None:
    results = [pair_result(n, "n5") for n in ("n1", "n2", "n3")] + [pair_result("n7", "n8")]
    findings = compute_findings(results, HOSTS)
    assert {(f.scope, tuple(f.nodes)) for f in findings} == {
        ("nodes", ("n5",)), ("links", ("n7", "n8"))}
    assert results[-1].finding == "iperf_bandwidth:bandwidth-low:links"


def test_different_reasons_are_different_findings_with_ranges() -> None:
    results = [node_result("n1", measured=2), node_result("n2", measured=4),
               node_result("n3", reason=None, status=Status.ERROR, measured=None)]
    findings = compute_findings(results, HOSTS)
    assert [(f.reason, f.action) for f in findings] == [
        ("memlock-low", "exclude"), ("memlock-error", "rerun")]
    assert findings[0].measured == {"min": 2, "max": 4}


def test_a_reason_never_comes_from_the_message() -> None:
    result = node_result("n1", reason=None)
    result.message = "n1: 8 MiB"
    assert reason_of(result) == "memlock-fail"


def test_blocked_checks_of_one_node_are_one_finding() -> None:
    results = [node_result("n4", Status.BLOCKED, check=c, reason=None) for c in ("a", "b")]
    (finding,) = compute_findings(results, HOSTS)
    assert (finding.check, finding.reason, finding.nodes) == ("blocked", "node-unreachable",
                                                             ["n4"])


def test_warnings_do_not_exclude_unless_they_gate() -> None:
    run = record([node_result("n2", Status.WARN)])
    assert run.bad_nodes() == []
    run.fail_on = "warn"
    assert run.bad_nodes() == ["n2"]


def test_the_brake_counts_or_shares() -> None:
    assert exclude_limit("10%", 8) == 1
    assert exclude_limit("10%", 1024) == 103
    assert exclude_limit("5", 1024) == 5
    for bad in ("ten", "-1", "120%"):
        with pytest.raises(UserError):
            exclude_limit(bad, 8)


def test_five_of_eight_distinct_outliers_are_past_the_brake() -> None:
    results = [node_result(n, check=f"c{i}") for i, n in enumerate(HOSTS[:5])]
    data = record(results).to_dict()
    assert len(data["bad_nodes"]) == 5
    assert data["max_exclude"] == 1 and data["exclude_advised"] is False


def test_nodes_to_exclude_takes_only_nodes_scope() -> None:
    findings = compute_findings([node_result(n) for n in HOSTS] + [node_result("n1", check="x")],
                                HOSTS)
    assert nodes_to_exclude(findings) == ["n1"]


def test_a_source_failing_for_two_reasons_stands_in_both_findings() -> None:
    results = [source_result(n, ["n2", "n4"], **{"tcp-29500-refused": ["n6"]})
               for n in HOSTS if n not in ("n2", "n4", "n6")]
    results += [source_result("n2", ["n4"], **{"tcp-29500-refused": ["n6"]}),
                source_result("n4", ["n2"], **{"tcp-29500-refused": ["n6"]}),
                source_result("n6", ["n2", "n4"])]
    findings = compute_findings(results, HOSTS)
    assert {(f.reason, f.scope, tuple(f.nodes)) for f in findings} == {
        ("tcp-29500-filtered", "nodes", ("n2", "n4")),
        ("tcp-29500-refused", "nodes", ("n6",))}
