"""Which end of a failing directed test the rest of the matrix points at."""

from __future__ import annotations

from preflight.blame import Directions, directions

NODES = ["node-1", "node-2", "node-3", "node-4"]


def matrix(failing: set[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    return {(a, b): (a, b) not in failing for a in NODES for b in NODES if a != b}


def test_every_outbound_failing_while_inbound_works_points_at_the_source() -> None:
    out_of_3 = {("node-3", other) for other in NODES if other != "node-3"}
    found = Directions.of(matrix(out_of_3))
    assert {found.blame("node-3", other) for other in NODES if other != "node-3"} == {"source"}


def test_nothing_getting_in_points_at_the_destination() -> None:
    into_3 = {(other, "node-3") for other in NODES if other != "node-3"}
    found = Directions.of(matrix(into_3))
    assert {found.blame(other, "node-3") for other in NODES if other != "node-3"} == {
        "destination"}


def test_one_direction_of_one_pair_is_one_way() -> None:
    assert Directions.of(matrix({("node-2", "node-3")})).blame("node-2", "node-3") == "one-way"


def test_one_pair_failing_both_ways_names_neither_end_alone() -> None:
    found = Directions.of(matrix({("node-2", "node-3"), ("node-3", "node-2")}))
    assert found.blame("node-2", "node-3") == found.blame("node-3", "node-2") == "both-ways"


def test_directions_are_computed_once_per_probe() -> None:
    pairs = {f"{a}|{b}": "ok" for a in NODES for b in NODES if a != b}
    first = directions(pairs, "x", lambda v: v == "ok")
    assert directions(pairs, "x", lambda v: False) is first
    assert directions(dict(pairs), "x", lambda v: v == "ok") is not first
