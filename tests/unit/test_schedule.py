"""The pairwise scheduler: coverage, disjointness, round counts, reproducibility."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.errors import UserError
from preflight.schedule import Mode, ModeError, Pair, directed, pack, parse_mode, rounds

BIG_NS = [255, 256, 1023, 1024]


def names(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def unordered(pair: Pair) -> frozenset[str]:
    return frozenset(pair)


def assert_disjoint(schedule: list[list[Pair]]) -> None:
    for round_ in schedule:
        members = [node for pair in round_ for node in pair]
        assert len(members) == len(set(members)), round_


def assert_ordered_by_input(schedule: list[list[Pair]], nodes: list[str]) -> None:
    position = {node: i for i, node in enumerate(nodes)}
    for round_ in schedule:
        keys = [(position[a], position[b]) for a, b in round_]
        assert all(i < j for i, j in keys)
        assert keys == sorted(keys)


def assert_mesh(n: int) -> None:
    nodes = names(n)
    schedule = rounds(nodes, "mesh")
    assert len(schedule) == (0 if n < 2 else n - 1 if n % 2 == 0 else n)
    assert_disjoint(schedule)
    covered = Counter(unordered(pair) for round_ in schedule for pair in round_)
    assert len(covered) == n * (n - 1) // 2
    assert set(covered.values()) <= {1}
    assert all(len(round_) == n // 2 for round_ in schedule)


def ring_edges(n: int) -> set[frozenset[str]]:
    nodes = names(n)
    return {frozenset((nodes[i], nodes[(i + 1) % n])) for i in range(n)} if n >= 2 else set()


def assert_ring(n: int) -> None:
    schedule = rounds(names(n), "ring")
    expected_rounds = {0: 0, 1: 0, 2: 1}.get(n, 2 if n % 2 == 0 else 3)
    assert len(schedule) == expected_rounds
    assert_disjoint(schedule)
    pairs = [unordered(pair) for round_ in schedule for pair in round_]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == ring_edges(n)


def assert_sample(n: int, k: int, seed: int) -> None:
    schedule = rounds(names(n), f"sample:{k}", seed=seed)
    assert schedule == rounds(names(n), f"sample:{k}", seed=seed)
    assert len(schedule) == (k if n >= 2 else 0)
    assert_disjoint(schedule)
    assert all(len(round_) == n // 2 for round_ in schedule)
    if n < 2:
        return
    uses = Counter(unordered(pair) for round_ in schedule for pair in round_)
    per_cover = n - 1 if n % 2 == 0 else n  # rounds that use every pair once
    full_covers, partial = divmod(k, per_cover)
    # nothing repeats while unseen pairs remain: every pair is used once per full cover
    assert max(uses.values()) == full_covers + (partial > 0)
    if full_covers:
        assert len(uses) == n * (n - 1) // 2
        assert min(uses.values()) == full_covers


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=64))
def test_mesh_covers_every_pair_once_in_disjoint_rounds(n: int) -> None:
    assert_mesh(n)


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=65, max_value=1024))
def test_mesh_large(n: int) -> None:
    assert_mesh(n)


@pytest.mark.parametrize("n", BIG_NS)
def test_mesh_explicit_big(n: int) -> None:
    assert_mesh(n)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=1024))
def test_ring_pairs_neighbours_in_at_most_three_rounds(n: int) -> None:
    assert_ring(n)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, *BIG_NS])
def test_ring_explicit(n: int) -> None:
    assert_ring(n)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=1024),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=2**32),
)
def test_sample_is_k_disjoint_matchings_reproducible(n: int, k: int, seed: int) -> None:
    assert_sample(n, k, seed)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=2, max_value=9), st.integers(min_value=1, max_value=30))
def test_sample_repeats_only_after_full_cover(n: int, k: int) -> None:
    assert_sample(n, k, seed=7)


@pytest.mark.parametrize("n", BIG_NS)
def test_sample_explicit_big(n: int) -> None:
    assert_sample(n, 16, seed=1)


def test_sample_next_cover_is_a_fresh_shuffle() -> None:
    schedule = rounds(names(8), "sample:14", seed=0)
    first, second = schedule[:7], schedule[7:]
    assert sorted(first) != sorted(second)


def test_sample_seed_changes_the_schedule() -> None:
    assert rounds(names(64), "sample:3", seed=1) != rounds(names(64), "sample:3", seed=2)


def test_sample_odd_nodes_each_rest_once_per_cover() -> None:
    nodes = names(7)
    schedule = rounds(nodes, "sample:7", seed=3)
    resting = [set(nodes) - {node for pair in r for node in pair} for r in schedule]
    assert all(len(rest) == 1 for rest in resting)
    assert set().union(*resting) == set(nodes)


def test_mesh_small_exact_schedule() -> None:
    assert rounds(["a", "b", "c", "d"], "mesh") == [
        [("a", "d"), ("b", "c")],
        [("a", "c"), ("b", "d")],
        [("a", "b"), ("c", "d")],
    ]


def test_ring_odd_exact_schedule() -> None:
    assert rounds(names(5), "ring") == [
        [("node-0", "node-1"), ("node-2", "node-3")],
        [("node-1", "node-2"), ("node-3", "node-4")],
        [("node-0", "node-4")],
    ]


@pytest.mark.parametrize("mode", ["mesh", "ring", "sample:5"])
def test_pairs_follow_input_order(mode: str) -> None:
    nodes = [f"host-{i}" for i in (9, 3, 7, 1, 12, 5, 0)]
    schedule = rounds(nodes, mode, seed=4)
    assert_ordered_by_input(schedule, nodes)
    assert schedule == rounds(list(nodes), mode, seed=4)


def test_duplicate_nodes_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate nodes in pair schedule: b"):
        rounds(["a", "b", "c", "b"], "mesh")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mesh", Mode("mesh")),
        (" Ring ", Mode("ring")),
        ("sample:1", Mode("sample", 1)),
        ("sample:64", Mode("sample", 64)),
    ],
)
def test_parse_mode_valid(text: str, expected: Mode) -> None:
    assert parse_mode(text) == expected
    assert parse_mode(str(expected)) == expected


@pytest.mark.parametrize(("nodes", "kind", "count"), [
    (2, "mesh", 1), (6, "mesh", 5), (16, "mesh", 15), (17, "ring", 3), (64, "ring", 2),
    (1024, "ring", 2)])
def test_auto_is_mesh_for_small_clusters_and_ring_beyond(nodes: int, kind: str,
                                                          count: int) -> None:
    names = [f"n{i}" for i in range(nodes)]
    assert parse_mode("auto", nodes) == Mode(kind)  # type: ignore[arg-type]
    assert len(rounds(names, "auto")) == count


@pytest.mark.parametrize(
    "text", ["", "full", "sample", "sample:", "sample:0", "sample:-2", "sample:x", "sample:1.5"]
)
def test_parse_mode_invalid(text: str) -> None:
    with pytest.raises(ModeError, match=r"valid modes are auto, mesh, ring, sample:K") as caught:
        parse_mode(text)
    assert isinstance(caught.value, UserError)
    assert isinstance(caught.value, ValueError)


def test_rounds_unknown_mode_is_value_error() -> None:
    with pytest.raises(ValueError, match="'star'.*valid modes are auto, mesh, ring, sample:K"):
        rounds(names(4), "star")


def test_rounds_accepts_parsed_mode() -> None:
    assert rounds(names(6), Mode("ring")) == rounds(names(6), "ring")


def test_directed_two_substeps_each_disjoint() -> None:
    round_ = rounds(names(6), "mesh")[0]
    steps = directed(round_)
    assert steps == [round_, [(b, a) for a, b in round_]]
    for step in steps:
        assert len({n for pair in step for n in pair}) == 2 * len(step)
    assert directed([]) == []


def test_pack_puts_each_node_once_per_round() -> None:
    pairs = [("s1", "h1"), ("s1", "h2"), ("s2", "h2"), ("s2", "h3"), ("s3", "h1")]
    packed = pack(pairs)
    assert packed == [[("s1", "h1"), ("s2", "h2")], [("s1", "h2"), ("s2", "h3"), ("s3", "h1")]]
    assert_disjoint(packed)
    assert pack([]) == []


@settings(max_examples=40, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 15), st.integers(0, 15)).filter(lambda t: t[0] < t[1])))
def test_pack_keeps_every_pair(index_pairs: set[tuple[int, int]]) -> None:
    pairs = [(f"n{a}", f"n{b}") for a, b in sorted(index_pairs)]
    packed = pack(pairs)
    assert_disjoint(packed)
    assert sorted(p for r in packed for p in r) == sorted(pairs)


def test_mesh_matches_itertools_combinations() -> None:
    nodes = names(10)
    pairs = {unordered(p) for r in rounds(nodes, "mesh") for p in r}
    assert pairs == {frozenset(c) for c in combinations(nodes, 2)}
