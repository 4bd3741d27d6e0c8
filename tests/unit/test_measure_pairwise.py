"""Pairwise rounds, judging, isolation and retests, with fake pair tests (no cluster)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from preflight import verdict
from preflight.measure.pairwise import (
    Floors,
    Judge,
    PairProbe,
    blame,
    judge_node,
    measure_pairs,
    node_verdict,
)

NAMES = [f"node-{i}" for i in range(1, 7)]
MEDIAN = Floors(None, 0.9, 0.5)


class Recorder:
    """A fake pair test: Gbit/s from `speed(src, dst, attempt)`, calls recorded in order."""

    def __init__(self, speed: Callable[[str, str, int], float]) -> None:
        self.speed = speed
        self.calls: list[tuple[str, str]] = []

    def __call__(self, src: str, dst: str) -> float:
        attempt = self.calls.count((src, dst))
        self.calls.append((src, dst))
        return self.speed(src, dst, attempt)


def probe(test: Callable[[str, str], Any], judge_for: Callable[[Mapping[Any, Any]], Judge]
          = MEDIAN.judge, both_ways: bool = True) -> PairProbe:
    return PairProbe("fake", test, judge_for, per_test_s=5, width=8, both_ways=both_ways)


def slow_node(node: str) -> Callable[[str, str, int], float]:
    return lambda s, d, attempt: 1.0 if node in (s, d) else 10.0


def test_healthy_mesh_measures_every_direction_once_in_n_minus_1_rounds() -> None:
    test = Recorder(lambda s, d, attempt: 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["rounds"] == 5
    assert sorted(test.calls) == sorted((a, b) for a in NAMES for b in NAMES if a != b)
    assert all(entry["passed"] for entry in result["pairs"].values())
    assert result["suspects"] == {"nodes": [], "links": [], "notes": []}
    assert result["floor_gbps"] == 5.0 and "0.5 x cluster median 10" in result["floor_basis"]
    assert result["retests"] == {}


def test_slow_node_is_named_and_retested_against_healthy_nodes() -> None:
    test = Recorder(slow_node("node-3"))
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["suspects"]["nodes"] == ["node-3"]
    assert result["suspects"]["links"] == []
    failing = {k for k, e in result["pairs"].items() if not e["passed"]}
    assert failing == {f"{a}|{b}" for a in NAMES for b in NAMES
                       if a != b and "node-3" in (a, b)}
    assert set(result["retests"]) == {"node-3|node-1", "node-1|node-3", "node-3|node-2",
                                      "node-2|node-3"}
    verdict = node_verdict(result, "node-3")
    assert verdict is not None
    assert verdict.startswith("node-3 (5/5 pairs slow, retested against 2 healthy nodes)")
    assert "median 1 Gbit/s on its pairs, 10 Gbit/s between other nodes" in verdict
    assert node_verdict(result, "node-1") is None
    assert blame(result, "node-1", "node-3") == "; node-3 is the slow node"


def test_matrix_keeps_first_measurements_of_retested_pairs() -> None:
    result = measure_pairs(NAMES, "mesh", probe(Recorder(slow_node("node-3"))))
    cells = result["matrices"]["fake"]["cells"]
    assert len(cells) == 30
    assert {(c["src"], c["dst"]): c["status"] for c in cells}[("node-3", "node-1")] == "fail"


def test_slow_link_stays_a_link_after_its_retest() -> None:
    link = {"node-2", "node-5"}
    test = Recorder(lambda s, d, attempt: 1.0 if {s, d} == link else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert result["suspects"]["nodes"] == []
    assert result["suspects"]["links"] == [["node-2", "node-5"]]
    assert "link node-2<->node-5 only" in result["suspects"]["notes"]
    assert {k for k, e in result["pairs"].items() if not e["passed"]} == {
        "node-2|node-5", "node-5|node-2"}
    assert test.calls.count(("node-2", "node-5")) == 2  # first pass and one retest
    assert blame(result, "node-5", "node-2") == "; this link only"


def test_one_off_dip_passes_on_retest_and_is_noted() -> None:
    test = Recorder(lambda s, d, attempt: 1.0 if (s, d) == ("node-4", "node-1")
                    and attempt == 0 else 10.0)
    result = measure_pairs(NAMES, "mesh", probe(test))
    assert all(e["passed"] for e in result["pairs"].values())
    assert result["pairs"]["node-4|node-1"]["gbps"] == 1.0  # what was measured first
    assert result["retests"]["node-4|node-1"] == {"gbps": 10.0, "error": None, "passed": True}
    assert result["suspects"]["links"] == []
    assert result["suspects"]["notes"] == [
        "link node-1<->node-4 was slow once and passed its retest: counted as passed"]


def test_failing_test_is_an_error_entry_not_a_slow_pair() -> None:
    def test(src: str, dst: str) -> float:
        if dst == "node-2":
            raise RuntimeError("iperf3: unable to connect to server")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))
    entry = result["pairs"]["node-1|node-2"]
    assert entry == {"gbps": None, "error": "iperf3: unable to connect to server",
                     "passed": False}
    assert result["suspects"]["nodes"] == []  # errors are not evidence of slowness
    cell = next(c for c in result["matrices"]["fake"]["cells"]
                if (c["src"], c["dst"]) == ("node-1", "node-2"))
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
        "gbps": 10.0, "error": None, "first_error": "node-1: iperf3 server did not start",
        "passed": True}
    assert attempts.count(("node-2", "node-1")) == 2
    assert all(e["passed"] for e in result["pairs"].values())


def test_bidirectional_probe_tests_each_pair_once_and_stores_both_ways() -> None:
    test = Recorder(lambda s, d, attempt: 10.0)
    result = measure_pairs(NAMES[:4], "mesh", probe(test, both_ways=False))
    assert len(test.calls) == 6
    assert len(result["pairs"]) == 12
    assert all(result["pairs"][f"{b}|{a}"]["bidirectional"] for a, b in test.calls)


def test_line_rate_floor_when_the_nic_speed_is_known() -> None:
    floors = Floors(100.0, 0.9, 0.7)
    result = measure_pairs(NAMES[:2], "mesh", probe(lambda s, d: 95.0, floors.judge))
    assert result["floor_gbps"] == pytest.approx(90.0)
    assert result["floor_basis"] == "0.9 x line rate 100 Gbit/s"


def test_entries_from_rail_tests_are_kept_whole() -> None:
    def test(src: str, dst: str) -> dict[str, Any]:
        return {"gbps": 5.0, "rails": {"mlx5_0": {"gbps": 5.0}}}

    judge = Judge(lambda entry: entry["gbps"] > 1)
    result = measure_pairs(NAMES[:2], "ring", probe(test, lambda results: judge))
    assert result["pairs"]["node-1|node-2"] == {
        "error": None, "gbps": 5.0, "rails": {"mlx5_0": {"gbps": 5.0}}, "passed": True}


def test_one_slow_node_in_four_does_not_drag_the_reference_down() -> None:
    # Plain median of the 12 directions: (0.48 + 3) / 2 = 1.74, floor 0.435: 0.48 would pass.
    floors = Floors(None, 0.9, 0.25)
    test = Recorder(lambda s, d, attempt: 0.48 if "node-3" in (s, d) else 3.0)
    result = measure_pairs(NAMES[:4], "mesh", probe(test, floors.judge))
    assert result["floor_gbps"] == pytest.approx(0.75)
    assert result["suspects"]["nodes"] == ["node-3"]


def test_a_node_whose_every_pair_errored_is_not_passed_by_isolation() -> None:
    def test(src: str, dst: str) -> float:
        if "node-2" in (src, dst):
            raise RuntimeError("iperf3: unable to connect to server")
        return 10.0

    result = measure_pairs(NAMES[:4], "mesh", probe(test))
    verdict.reset()
    with pytest.raises(verdict.Unavailable, match="node-2: none of its 6 pairs was measured"):
        judge_node(result, "node-2", "hint")
    judge_node(result, "node-1", "hint")  # measured with two partners: judged, and fine
