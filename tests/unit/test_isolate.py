"""Bad node or bad link: isolation from pair outcomes, retest planning, confirmation."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from preflight.isolate import (
    Isolation,
    NodeSuspicion,
    confirm,
    describe,
    isolate,
    link,
    natural_key,
    retest_plan,
)
from preflight.schedule import Pair, rounds


def names(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def outcomes_for(schedule: list[list[Pair]], fails: Callable[[Pair], bool]) -> dict[Pair, bool]:
    return {pair: not fails(pair) for round_ in schedule for pair in round_}


def touching(*bad: str) -> Callable[[Pair], bool]:
    return lambda pair: bool(set(bad).intersection(pair))


def only(*links: Pair) -> Callable[[Pair], bool]:
    wanted = {frozenset(p) for p in links}
    return lambda pair: frozenset(pair) in wanted


def others(nodes: Iterable[str], *bad: str) -> list[str]:
    return [n for n in nodes if n not in bad]


def test_one_bad_node_among_eight_in_a_mesh() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), touching("node-7")))
    assert result.suspect_nodes == [NodeSuspicion("node-7", 7, 7, others(nodes, "node-7"))]
    assert result.bad_links == []
    assert result.notes == []
    assert result.healthy == others(nodes, "node-7")
    assert describe(result) == ["node-7 (7/7 pairs failed, not retested)"]


def test_one_bad_link_in_a_mesh() -> None:
    nodes = names(10)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), only(("node-9", "node-3"))))
    assert result.suspect_nodes == []
    assert result.bad_links == [("node-3", "node-9")]
    assert result.healthy == others(nodes, "node-3", "node-9")
    assert describe(result) == ["link node-3<->node-9 only"]


def test_two_bad_nodes_among_eight() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), touching("node-2", "node-5")))
    assert [(s.node, s.failed, s.tested) for s in result.suspect_nodes] == [
        ("node-2", 7, 7),
        ("node-5", 7, 7),
    ]
    assert result.suspect_nodes[0].partners_failed == others(nodes, "node-2")
    assert result.bad_links == []
    assert result.healthy == others(nodes, "node-2", "node-5")


def test_ring_bad_node_with_only_two_partners() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "ring"), touching("node-4")))
    assert result.suspect_nodes == [NodeSuspicion("node-4", 2, 2, ["node-3", "node-5"])]
    assert result.bad_links == []
    assert describe(result) == ["node-4 (2/2 pairs failed, not retested)"]


def test_ring_bad_link_is_not_a_node() -> None:
    result = isolate(outcomes_for(rounds(names(8), "ring"), only(("node-4", "node-5"))))
    assert result.suspect_nodes == []
    assert result.bad_links == [("node-4", "node-5")]


def test_nothing_failing() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), lambda pair: False))
    assert result == Isolation([], [], [], nodes)
    assert describe(result) == []
    assert retest_plan(result, result.healthy) == []


def test_half_failing_is_not_enough_for_a_suspect() -> None:
    # node-0 fails with 2 of its 4 partners: not more than half, so two links
    outcomes = {("node-0", f"node-{i}"): i > 2 for i in range(1, 5)}
    result = isolate(outcomes)
    assert result.suspect_nodes == []
    assert result.bad_links == [("node-0", "node-1"), ("node-0", "node-2")]


def test_one_partner_cannot_make_a_suspect() -> None:
    result = isolate({("node-1", "node-2"): False})
    assert result.bad_links == [("node-1", "node-2")]
    assert result.notes == [
        "link node-1<->node-2: node-1 was tested with no other node, so it may be the bad one",
        "link node-1<->node-2: node-2 was tested with no other node, so it may be the bad one",
    ]


def test_directed_outcomes_normalise_and_note_one_way_failures() -> None:
    outcomes = {
        ("node-9", "node-3"): False,  # first, so a last-direction-wins merge would pass it
        ("node-3", "node-9"): True,
        ("node-3", "node-1"): True,
        ("node-1", "node-3"): True,
        ("node-9", "node-1"): True,
        ("node-1", "node-9"): True,
    }
    result = isolate(outcomes)
    assert result.bad_links == [("node-3", "node-9")]
    assert result.notes == ["link node-9->node-3 failed one way only (node-3->node-9 passed)"]
    assert result.healthy == ["node-1"]


def test_directed_bad_node_counts_partners_not_directions() -> None:
    schedule = rounds(names(6), "mesh")
    outcomes = {
        step: "node-2" not in step
        for round_ in schedule
        for pair in round_
        for step in (pair, pair[::-1])
    }
    result = isolate(outcomes)
    assert [(s.node, s.failed, s.tested) for s in result.suspect_nodes] == [("node-2", 5, 5)]


def test_everything_failing_points_at_a_cluster_wide_cause() -> None:
    result = isolate(outcomes_for(rounds(names(4), "mesh"), lambda pair: True))
    assert [s.node for s in result.suspect_nodes] == names(4)
    assert result.notes == [
        "4 of 4 nodes look bad: suspect a cluster-wide cause "
        "(missing tool, firewall, configuration) before the nodes themselves"
    ]


def test_measured_values_become_a_note() -> None:
    schedule = rounds(names(4), "mesh")
    outcomes = outcomes_for(schedule, touching("node-3"))
    values = {pair: 480.0 if "node-3" in pair else 24100.0 for pair in outcomes}
    result = isolate(outcomes, values, failure="slow", unit="Mbit/s")
    assert result.notes == [
        "node-3: median 480 Mbit/s on its pairs, 24100 Mbit/s between other nodes"
    ]
    assert describe(result)[0] == "node-3 (3/3 pairs slow, not retested)"


def test_self_pair_is_rejected() -> None:
    with pytest.raises(ValueError, match="two different nodes, got node-1<->node-1"):
        isolate({("node-1", "node-1"): False})


def test_sample_schedule_bad_node_confirmed_in_the_documented_words() -> None:
    nodes = names(8)
    outcomes = outcomes_for(rounds(nodes, "sample:4", seed=5), touching("node-7"))
    result = isolate(outcomes, failure="slow")
    plan = retest_plan(result, result.healthy, k=2)
    assert plan == [("node-7", "node-0"), ("node-7", "node-1")]
    confirmed = confirm(result, dict.fromkeys(plan, False))
    assert confirmed.suspect_nodes[0].confirmed
    assert confirmed.suspect_nodes[0].retested_with == ["node-0", "node-1"]
    assert describe(confirmed) == ["node-7 (4/4 pairs slow, retested against 2 healthy nodes)"]


def test_retest_plan_spreads_suspects_over_healthy_nodes() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), touching("node-2", "node-5")))
    assert retest_plan(result, result.healthy, k=2) == [
        ("node-2", "node-0"),
        ("node-2", "node-1"),
        ("node-5", "node-3"),
        ("node-5", "node-4"),
    ]
    assert retest_plan(result, ["node-0", "node-5"], k=3) == [
        ("node-2", "node-0"),
        ("node-5", "node-0"),
    ]
    assert retest_plan(result, []) == []
    with pytest.raises(ValueError, match="at least 1, got 0"):
        retest_plan(result, result.healthy, k=0)


def test_confirm_downgrades_a_suspect_whose_retests_pass() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), touching("node-2", "node-5")))
    retests = {
        ("node-2", "node-0"): True,
        ("node-1", "node-2"): True,
        ("node-5", "node-3"): False,
        ("node-5", "node-4"): False,
    }
    confirmed = confirm(result, retests)
    assert [(s.node, s.confirmed) for s in confirmed.suspect_nodes] == [("node-5", True)]
    # node-2<->node-5 stays explained by node-5; node-2's other failing pairs are links
    assert confirmed.bad_links == [link("node-2", n) for n in others(nodes, "node-2", "node-5")]
    assert confirmed.healthy == []
    assert describe(confirmed) == [
        "node-5 (7/7 pairs failed, retested against 2 healthy nodes)",
        "link node-0<->node-2 only",
        "link node-1<->node-2 only",
        "link node-2<->node-3 only",
        "link node-2<->node-4 only",
        "link node-2<->node-6 only",
        "link node-2<->node-7 only",
        "node-2 passed retests against node-0, node-1: its failing pairs are counted as links",
    ]


def test_confirm_mixed_or_missing_retests_keep_an_unconfirmed_suspect() -> None:
    nodes = names(8)
    result = isolate(outcomes_for(rounds(nodes, "mesh"), touching("node-2", "node-5")))
    confirmed = confirm(result, {("node-2", "node-0"): False, ("node-2", "node-1"): True})
    assert [(s.node, s.confirmed, s.retests_failed) for s in confirmed.suspect_nodes] == [
        ("node-2", False, 1),
        ("node-5", False, 0),
    ]
    assert confirmed.bad_links == []
    assert describe(confirmed) == [
        "node-2 (7/7 pairs failed, 1/2 retests failed)",
        "node-5 (7/7 pairs failed, not retested)",
        "node-2: 1/2 retests failed: still a suspect, not confirmed",
        "node-5 was not retested: still a suspect, not confirmed",
    ]


def test_confirm_single_retest_reads_singular() -> None:
    result = isolate(outcomes_for(rounds(names(4), "mesh"), touching("node-0")))
    confirmed = confirm(result, {("node-3", "node-0"): False})
    assert describe(confirmed) == ["node-0 (3/3 pairs failed, retested against 1 healthy node)"]


def test_natural_order_for_nodes_and_links() -> None:
    assert sorted(["node-10", "node-9", "node-1"], key=natural_key) == [
        "node-1",
        "node-9",
        "node-10",
    ]
    assert link("node-10", "node-9") == ("node-9", "node-10")
    assert link("gpu-a2", "gpu-a10") == ("gpu-a2", "gpu-a10")
