"""The live display names each probe's round while it measures ("iperf3 round 2/3"),
rendered from its model: no terminal needed."""

from __future__ import annotations

import io

from preflight.console import make_console
from preflight.live import ProbeLine, measuring, watch_probe
from preflight.measure.pairwise import PairProbe, measure_pairs
from preflight.pairjudge import Floors
from preflight.schedule import rounds

NAMES = [f"node-{i}" for i in range(1, 8)]  # an odd ring: 3 rounds


def test_a_pair_probe_is_shown_with_each_round_then_its_retest() -> None:
    seen: list[str] = []

    def test(src: str, dst: str) -> float:
        return 0.1 if "node-3" in (src, dst) else 9.4  # node-3 slow: retested

    probe = PairProbe("iperf3", test, Floors(None, 0.9, 0.5).rule, per_test_s=1, width=4)
    with watch_probe("iperf3", len(NAMES), lambda line: seen.append(line.text())):
        measure_pairs(NAMES, "ring", probe)
    main = [s for s in seen if "round" in s]
    total = len(rounds(NAMES, "ring"))
    assert total == 3
    assert {s.split(" (")[0] for s in main} == {
        f"measure: iperf3 round {i}/{total}" for i in range(1, total + 1)}
    assert main == sorted(main, key=lambda s: int(s.split("round ")[1].split("/")[0]))
    assert any("retest" in s for s in seen[len(main):])


def test_a_probe_without_a_schedule_says_how_many_nodes() -> None:
    line = ProbeLine("ssh_mesh", 16)
    line.batch(["node-1", "node-2"])
    assert line.text() == "measure: ssh_mesh across 16 nodes"


def test_the_line_counts_pairs_and_tells_a_retest_of_a_pair_run_before() -> None:
    line = ProbeLine("ib_write_bw", 4)
    line.scheduled([[("a", "b"), ("c", "d")], [("a", "c"), ("b", "d")]])
    line.batch([("a", "b"), ("c", "d")])
    assert line.text() == "measure: ib_write_bw round 1/2 (2 pairs)"
    line.batch([("b", "a"), ("d", "c")])  # the other direction: the same round
    assert line.text() == "measure: ib_write_bw round 1/2 (2 pairs)"
    line.batch([("a", "c"), ("b", "d")])
    assert line.text() == "measure: ib_write_bw round 2/2 (2 pairs)"
    line.batch([("a", "b")])
    assert line.text() == "measure: ib_write_bw retest (1 pairs)"


def test_watchers_are_removed_after_the_probe() -> None:
    from preflight import fanout, schedule

    with watch_probe("iperf3", 2):
        assert fanout.batch_watchers and schedule.schedule_watchers
    assert not fanout.batch_watchers and not schedule.schedule_watchers


def test_off_a_terminal_measuring_prints_nothing(capsys) -> None:  # type: ignore[no-untyped-def]
    assert not make_console(io.StringIO()).is_terminal
    with measuring("iperf3", 2):
        rounds(["a", "b"], "ring")
    assert capsys.readouterr().err == ""


def test_the_live_display_lets_go_of_the_reports_r_did_not_ask_for() -> None:
    from types import SimpleNamespace

    from preflight.live import _forget_quiet_reports, quiet_categories

    def stats() -> dict[str, list[int]]:
        return {"": [1, 2], "passed": [3], "failed": [4], "error": [5], "skipped": [6]}

    reporter = SimpleNamespace(stats=stats())
    _forget_quiet_reports(reporter, quiet_categories("N"))  # preflight run's -rN
    assert reporter.stats == {"failed": [4], "error": [5]}
    reporter = SimpleNamespace(stats=stats())
    _forget_quiet_reports(reporter, quiet_categories("s"))
    assert reporter.stats == {"failed": [4], "error": [5], "skipped": [6]}
    assert quiet_categories("A") == []
