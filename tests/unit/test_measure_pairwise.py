"""Pairwise rounds, isolation retests and the check-time judging of what they recorded,
with fake pair tests (no cluster)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from preflight import verdict
from preflight.config import Expectations
from preflight.inventory import Node
from preflight.measure.base import ConnectFailure, connected, lost_by, lost_nodes
from preflight.measure.pairwise import PairProbe, measure_pairs
from preflight.pairjudge import (
    Floors,
    Judged,
    Rule,
    blame,
    judge,
    judge_node,
    node_verdict,
    report_view,
)
from preflight.runctx import RunContext
from preflight.transport.base import ConnectError, FailureKind

NAMES = [f"node-{i}" for i in range(1, 7)]
MEDIAN = Floors(None, 0.9, 0.5)
AS_MEASURED = Expectations(iperf_median_fraction=0.5)  # what MEDIAN plans with


class Recorder:
    """A fake pair test: Gbit/s from `speed(src, dst, attempt)`, calls recorded in order."""

    def __init__(self, speed: Callable[[str, str, int], float]) -> None:
        self.speed = speed
        self.calls: list[tuple[str, str]] = []

    def __call__(self, src: str, dst: str) -> float:
        attempt = self.calls.count((src, dst))
        self.calls.append((src, dst))
        return self.speed(src, dst, attempt)


def probe(test: Callable[[str, str], Any], plan_rule: Callable[[Mapping[Any, Any]], Rule]
          = MEDIAN.rule, both_ways: bool = True) -> PairProbe:
    return PairProbe("iperf3", test, plan_rule, per_test_s=5, width=8, both_ways=both_ways)


def failing(judged: Judged) -> set[str]:
    return {key for key, ok in judged.passed.items() if not ok}


def slow_node(node: str) -> Callable[[str, str, int], float]:
    return lambda s, d, attempt: 1.0 if node in (s, d) else 10.0


def test_healthy_mesh_measures_every_direction_once_in_n_minus_1_rounds() -> None:
    test = Recorder(lambda s, d, attempt: 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["rounds"] == 5
    assert sorted(test.calls) == sorted((a, b) for a in NAMES for b in NAMES if a != b)
    assert result["retests"] == {}
    assert result["retest_plan"] == {"floor_gbps": 5.0,
                                     "floor_basis": "0.5 x cluster median 10 Gbit/s"}
    judged = judge(result, AS_MEASURED)
    assert all(judged.passed.values()) and len(judged.passed) == 30
    assert judged.suspects == {"nodes": [], "links": [], "notes": []}
    assert judged.rule.floor_gbps == 5.0 and judged.rule.basis == \
        "0.5 x cluster median 10 Gbit/s"


def test_the_recording_holds_figures_and_outcomes_never_a_verdict() -> None:
    result = measure_pairs(NAMES, "mesh", probe(Recorder(slow_node("node-3"))))
    for entries in [result["pairs"], *result["retests"].values()]:
        assert all(set(e) <= {"gbps", "error", "connect", "first_error"}
                   for e in entries.values())
    assert not {"suspects", "matrices", "floor_gbps", "passed"} & set(result)


def test_slow_node_is_named_and_retested_against_healthy_nodes() -> None:
    test = Recorder(slow_node("node-3"))
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["retest_plan"]["nodes"] == [["node-3", "node-1"], ["node-3", "node-2"]]
    assert set(result["retests"]["nodes"]) == {"node-3|node-1", "node-1|node-3",
                                               "node-3|node-2", "node-2|node-3"}
    judged = judge(result, AS_MEASURED)
    assert judged.suspects["nodes"] == ["node-3"]
    assert judged.suspects["links"] == []
    assert failing(judged) == {f"{a}|{b}" for a in NAMES for b in NAMES
                               if a != b and "node-3" in (a, b)}
    verdict = node_verdict(judged, "node-3")
    assert verdict is not None
    assert verdict.startswith("node-3 (5/5 pairs slow, retested against 2 healthy nodes)")
    assert "median 1 Gbit/s on its pairs, 10 Gbit/s between other nodes" in verdict
    assert node_verdict(judged, "node-1") is None
    assert blame(judged, "node-1", "node-3") == "; node-3 is the slow node"


def test_a_slow_node_under_a_lower_floor_is_not_blamed_and_a_floor_above_all_blames_all(
) -> None:
    result = measure_pairs(NAMES, "mesh", probe(Recorder(slow_node("node-3"))))
    lenient = judge(result, Expectations(nic_gbps=1.0))  # floor 0.9 Gbit/s
    assert not failing(lenient) and lenient.suspects["nodes"] == []
    assert lenient.rule.basis == "0.9 x line rate 1 Gbit/s"
    strict = judge(result, Expectations(nic_gbps=100.0))  # floor 90: nothing passes
    assert len(failing(strict)) == 30
    assert strict.suspects["nodes"] == NAMES  # not retested under this floor: unconfirmed
    assert any("look bad: suspect a cluster-wide cause" in n for n in strict.suspects["notes"])


def test_matrix_keeps_first_measurements_of_retested_pairs() -> None:
    result = measure_pairs(NAMES, "mesh", probe(Recorder(slow_node("node-3"))))
    cells = report_view("iperf3", result, AS_MEASURED)["matrices"]["iperf3"]["cells"]
    assert len(cells) == 30
    assert {(c["src"], c["dst"]): c["status"] for c in cells}[("node-3", "node-1")] == "fail"


def test_slow_link_stays_a_link_after_its_retest() -> None:
    link = {"node-2", "node-5"}
    test = Recorder(lambda s, d, attempt: 1.0 if {s, d} == link else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert judged.suspects["nodes"] == []
    assert judged.suspects["links"] == [["node-2", "node-5"]]
    assert "link node-2<->node-5 only" in judged.suspects["notes"]
    assert failing(judged) == {"node-2|node-5", "node-5|node-2"}
    assert test.calls.count(("node-2", "node-5")) == 3  # first pass and two retests
    beside = ["node-1", "node-3"]  # a healthy pair measured beside each retest
    assert result["retest_plan"]["links"] == [["node-2", "node-5"], beside]
    assert result["retest_plan"]["links-again"] == [["node-2", "node-5"], beside]
    assert "links-later" not in result["retest_plan"]  # the healthy pair was not slow
    assert blame(judged, "node-5", "node-2") == "; this link only"


def test_a_link_retested_while_the_healthy_pair_beside_it_is_slow_is_retested_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster turns busy as the first pass ends (node-2 -> node-5 caught it): both
    retests see everything slow, the healthy pair too, so two more follow, after a pause;
    the cluster is quiet again by the last one and the link passes."""
    test = Recorder(lambda s, d, attempt: 1.0 if (s, d) == ("node-2", "node-5") and attempt < 3
                    or {s, d} == {"node-1", "node-3"} and 0 < attempt < 3 else 10.0)
    slept: list[float] = []
    monkeypatch.setattr("preflight.measure.pairwise.time.sleep", slept.append)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert all(judged.passed.values()) and judged.suspects["links"] == []
    assert list(result["retests"]) == ["links", "links-again", "links-later"]
    assert slept == [10.0]
    assert result["retests"]["links-later"]["node-2|node-5"]["gbps"] == 10.0


def test_a_shaped_link_stays_failing_however_busy_the_cluster_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    test = Recorder(lambda s, d, attempt: 1.0 if {s, d} == {"node-2", "node-5"}
                    or {s, d} == {"node-1", "node-3"} and attempt > 0 else 10.0)
    monkeypatch.setattr("preflight.measure.pairwise.time.sleep", lambda s: None)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert list(result["retests"]) == ["links", "links-again", "links-later", "links-last"]
    assert judged.suspects["links"] == [["node-2", "node-5"]]
    assert failing(judged) == {"node-2|node-5", "node-5|node-2"}


def test_one_off_dip_passes_on_retest_and_is_noted() -> None:
    test = Recorder(lambda s, d, attempt: 1.0 if (s, d) == ("node-4", "node-1")
                    and attempt == 0 else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert all(judged.passed.values())
    assert result["pairs"]["node-4|node-1"]["gbps"] == 1.0  # what was measured first
    assert result["retests"]["links"]["node-4|node-1"] == {"gbps": 10.0, "error": None}
    assert judged.suspects["links"] == []
    assert judged.suspects["notes"] == [
        "link node-1<->node-4 was slow, then passed a retest: counted as passed"]


def test_a_link_that_dips_twice_passes_its_second_retest() -> None:
    test = Recorder(lambda s, d, attempt: 1.0 if (s, d) == ("node-4", "node-1")
                    and attempt < 2 else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert all(judged.passed.values()) and judged.suspects["links"] == []
    assert result["retests"]["links"]["node-4|node-1"]["gbps"] == 1.0
    assert result["retests"]["links-again"]["node-4|node-1"]["gbps"] == 10.0
    assert judged.suspects["notes"] == [
        "link node-1<->node-4 was slow, then passed a retest: counted as passed"]


def test_a_dip_on_a_link_into_a_firewalled_node_passes_its_retest() -> None:
    """node-3 takes no connection (a firewall: its own finding); node-3 -> node-2 dips
    once. Its retest also runs node-2 -> node-3, which cannot connect: that says nothing
    about speed, so the passing retest of the slow direction clears the link."""
    def test(src: str, dst: str) -> float:
        if dst == "node-3":
            raise ConnectFailure("iperf3", "filtered", 5201, dst)
        dipped = (src, dst) == ("node-3", "node-2") and (src, dst) not in calls
        calls.append((src, dst))
        return 1.0 if dipped else 10.0

    calls: list[tuple[str, str]] = []
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert result["retests"]["links"]["node-2|node-3"]["connect"]["verdict"] == "filtered"
    assert failing(judged) == {f"{n}|node-3" for n in NAMES if n != "node-3"}
    assert judged.suspects["links"] == []
    assert "link node-2<->node-3 was slow, then passed a retest: counted as passed" in \
        judged.suspects["notes"]


def test_a_link_still_slow_the_other_way_in_its_retest_is_not_cleared() -> None:
    test = Recorder(lambda s, d, attempt: 1.0 if (s, d) == ("node-4", "node-1") and
                    attempt == 0 or (s, d) == ("node-1", "node-4") and attempt > 0 else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    judged = judge(result, AS_MEASURED)
    assert judged.suspects["links"] == [["node-1", "node-4"]]


def test_a_link_the_run_did_not_retest_stays_failing_at_check_time() -> None:
    test = Recorder(lambda s, d, attempt: 6.0 if {s, d} == {"node-1", "node-4"} else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["retests"] == {}  # above the run's floor of 5: nothing to retest
    judged = judge(result, Expectations(nic_gbps=10.0))  # floor 9
    assert failing(judged) == {"node-1|node-4", "node-4|node-1"}
    assert judged.suspects["links"] == [["node-1", "node-4"]]


def test_failing_test_is_an_error_entry_not_a_slow_pair() -> None:
    def test(src: str, dst: str) -> float:
        if dst == "node-2":
            raise RuntimeError("iperf3: unable to connect to server")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))
    entry = result["pairs"]["node-1|node-2"]
    assert entry == {"gbps": None, "error": "iperf3: unable to connect to server"}
    judged = judge(result, AS_MEASURED)
    assert not judged.passed["node-1|node-2"]
    assert judged.suspects["nodes"] == []  # errors are not evidence of slowness
    cell = next(c for c in report_view("iperf3", result, AS_MEASURED)["matrices"]["iperf3"]
                ["cells"] if (c["src"], c["dst"]) == ("node-1", "node-2"))
    assert cell == {"src": "node-1", "dst": "node-2", "value": "error", "status": "error"}


def test_a_test_that_errors_once_runs_again() -> None:
    attempts: list[tuple[str, str]] = []

    def test(src: str, dst: str) -> float:
        attempts.append((src, dst))
        if (src, dst) == ("node-2", "node-1") and attempts.count((src, dst)) == 1:
            raise RuntimeError("node-1: iperf3 server did not start")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))
    assert result["pairs"]["node-2|node-1"] == {
        "gbps": 10.0, "error": None, "first_error": "node-1: iperf3 server did not start"}
    assert attempts.count(("node-2", "node-1")) == 2
    assert all(judge(result, AS_MEASURED).passed.values())


def test_bidirectional_probe_tests_each_pair_once_and_stores_both_ways() -> None:
    test = Recorder(lambda s, d, attempt: 10.0)
    result = measure_pairs(NAMES[:4], "mesh", probe(test, both_ways=False))
    assert len(test.calls) == 6
    assert len(result["pairs"]) == 12
    assert all(result["pairs"][f"{b}|{a}"]["bidirectional"] for a, b in test.calls)


def test_line_rate_floor_when_the_nic_speed_is_known() -> None:
    floors = Floors(100.0, 0.9, 0.7)
    result = measure_pairs(NAMES[:2], "mesh", probe(lambda s, d: 95.0, floors.rule))
    assert result["retest_plan"]["floor_gbps"] == pytest.approx(90.0)
    judged = judge(result, Expectations(nic_gbps=100.0))
    assert judged.rule.floor_gbps == pytest.approx(90.0)
    assert judged.rule.basis == "0.9 x line rate 100 Gbit/s"


def test_entries_from_rail_tests_are_kept_whole() -> None:
    def test(src: str, dst: str) -> dict[str, Any]:
        return {"gbps": 5.0, "rails": {"mlx5_0": {"gbps": 5.0}}}

    rule = Rule(lambda entry: entry["gbps"] > 1)
    result = measure_pairs(NAMES[:2], "ring", probe(test, lambda results: rule))
    assert result["pairs"]["node-1|node-2"] == {
        "error": None, "gbps": 5.0, "rails": {"mlx5_0": {"gbps": 5.0}}}


def test_one_slow_node_in_four_does_not_drag_the_reference_down() -> None:
    # Plain median of the 12 directions: (0.48 + 3) / 2 = 1.74, floor 0.435: 0.48 would pass.
    floors = Floors(None, 0.9, 0.25)
    test = Recorder(lambda s, d, attempt: 0.48 if "node-3" in (s, d) else 3.0)
    result = measure_pairs(NAMES[:4], "mesh", probe(test, floors.rule))
    judged = judge(result, Expectations(iperf_median_fraction=0.25))
    assert judged.rule.floor_gbps == pytest.approx(0.75)
    assert judged.suspects["nodes"] == ["node-3"]


def test_a_node_whose_every_pair_errored_is_not_passed_by_isolation() -> None:
    def test(src: str, dst: str) -> float:
        if "node-2" in (src, dst):
            raise RuntimeError("iperf3: unable to connect to server")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))
    verdict.reset()
    with pytest.raises(verdict.Unavailable, match="node-2: none of its 6 pairs was measured"):
        judge_node(result, AS_MEASURED, "node-2", "hint")
    judge_node(result, AS_MEASURED, "node-1", "hint")  # measured with two partners: fine


def _gone(node: str) -> Callable[[str, str], float]:
    """A pair test whose every test touching `node` fails as a dead link does."""
    def test(src: str, dst: str) -> float:
        if node in (src, dst):
            raise ConnectError(node, FailureKind.SSH_ERROR, "open session: timed out")
        return 10.0

    return test


def _lost_if_connect_error(error: Exception) -> str | None:
    return error.host if isinstance(error, ConnectError) else None


def test_a_node_lost_mid_probe_is_not_waited_out_pair_after_pair() -> None:
    calls: list[tuple[str, str]] = []
    dead = _gone("node-3")

    def test(src: str, dst: str) -> float:
        calls.append((src, dst))
        return dead(src, dst)

    lost_probe = PairProbe("iperf3", test, MEDIAN.rule, per_test_s=5, width=8,
                           lost_by=_lost_if_connect_error)
    lost: dict[str, str] = {}
    result = measure_pairs(NAMES, "mesh", lost_probe, lost)
    assert lost == {"node-3": "ssh-error: open session: timed out"}
    assert sum("node-3" in pair for pair in calls) == 1  # the test that found it lost
    assert len(calls) == 1 + 20  # and every pair between the five others, once
    mine = {k: e for k, e in result["pairs"].items() if "node-3" in k.split("|")}
    assert len(mine) == 10
    assert all(e == {"gbps": None, "lost": "node-3", "error": "not measured: node-3 was lost "
                     "mid-run (ssh-error: open session: timed out)"} for e in mine.values())
    assert all(judge(result, AS_MEASURED).passed[k] for k in result["pairs"] if k not in mine)


def test_a_node_already_lost_by_an_earlier_probe_is_never_tested() -> None:
    test = Recorder(lambda s, d, attempt: 10.0)
    result = measure_pairs(NAMES[:4], "mesh", probe(test), {"node-2": "connection lost"})
    assert not [pair for pair in test.calls if "node-2" in pair]
    assert result["pairs"]["node-1|node-2"]["error"] == \
        "not measured: node-2 was lost mid-run (connection lost)"


def test_a_connect_error_on_a_node_still_there_is_an_error_and_runs_again() -> None:
    attempts: list[tuple[str, str]] = []

    def test(src: str, dst: str) -> float:
        attempts.append((src, dst))
        if (src, dst) == ("node-1", "node-2") and attempts.count((src, dst)) == 1:
            raise ConnectError("node-2", FailureKind.SSH_ERROR, "open session: timed out")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))  # lost_by: nothing is lost
    assert result["pairs"]["node-1|node-2"]["first_error"] == \
        "ssh-error: open session: timed out"
    assert attempts.count(("node-1", "node-2")) == 2


class _Closed:
    def close(self) -> None:
        pass


def _context(tmp_path: Path, down: set[str]) -> RunContext:
    def connect(host: str) -> Any:
        if host in down:
            raise ConnectError(host, FailureKind.CONNECT_TIMEOUT, "connection timed out")
        return _Closed()

    return RunContext(nodes=[Node(n) for n in NAMES[:3]], expect=Expectations(),
                      run_dir=tmp_path, transport_factory=connect)


def test_a_node_is_lost_once_a_new_connection_fails_too_and_stays_lost(tmp_path: Path) -> None:
    down: set[str] = set()
    ctx = _context(tmp_path, down)
    ctx.connections.get("node-2")
    stale = ConnectError("node-2", FailureKind.SSH_ERROR, "open session: timed out")
    assert lost_by(ctx, stale) is None  # a stale connection: a new one opens
    down.add("node-2")
    assert lost_by(ctx, stale) == "node-2"
    assert lost_nodes(ctx, NAMES[:3]) == {"node-2": "connect-timeout: connection timed out"}
    assert lost_by(ctx, RuntimeError("iperf3 failed")) is None
    assert lost_by(ctx, ConnectError("elsewhere", FailureKind.SSH_ERROR, "x")) is None


def test_a_server_waits_for_its_client_only_when_the_client_got_through() -> None:
    assert connected({"rc": 0, "stdout": "{}", "stderr": ""})
    assert not connected({"connect": "filtered"})
    assert not connected({"rc": 1, "stdout": "", "stderr": "connect failed: Connection refused"})
    assert not connected(None)  # the client never ran (an error before or while it ran)
