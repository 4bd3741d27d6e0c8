"""ClusterFacts.values keeps one answer per reader: per-node checks ask N times."""

from __future__ import annotations

from typing import Any

from preflight.facts import ClusterFacts, NodeFacts
from preflight.gather import NodeOutcome


def _cluster() -> ClusterFacts:
    facts: dict[str, dict[str, Any]] = {f"n{i}": {"kernel": f"6.{i % 2}", "os": "x"}
                                        for i in range(4)}
    return ClusterFacts({name: NodeOutcome(name, facts=f) for name, f in facts.items()})


def test_a_reader_is_read_once_per_run() -> None:
    cluster, calls = _cluster(), []

    def kernel(node: NodeFacts) -> Any:
        calls.append(node.name)
        return node.get("kernel")

    first = cluster.values(kernel)
    first["n0"] = "changed by a caller"
    assert cluster.values(kernel) == {"n0": "6.0", "n1": "6.1", "n2": "6.0", "n3": "6.1"}
    assert len(calls) == 4


def test_a_lambda_made_anew_with_other_captured_values_is_read_again() -> None:
    cluster = _cluster()

    def reader(key: str, skip: str) -> Any:
        return cluster.values(lambda n: n.get(key) if n.name != skip else None)

    assert reader("kernel", "n0") == {"n1": "6.1", "n2": "6.0", "n3": "6.1"}
    assert reader("kernel", "n1") == {"n0": "6.0", "n2": "6.0", "n3": "6.1"}
    assert reader("os", "n1") == {"n0": "x", "n2": "x", "n3": "x"}


def test_an_unhashable_captured_value_counts_by_identity() -> None:
    cluster = _cluster()

    def reader(wanted: list[str]) -> Any:
        return cluster.values(lambda n: n.get("kernel") if n.name in wanted else None)

    assert reader(["n0"]) == {"n0": "6.0"}
    assert reader(["n1"]) == {"n1": "6.1"}


def test_counted_reads_once_per_reader_and_gives_a_copy() -> None:
    from collections import Counter

    cluster, calls = _cluster(), []

    def kernel(node: NodeFacts) -> Any:
        calls.append(node.name)
        return node.get("kernel")

    first = cluster.counted(kernel)
    first["6.0"] -= 2  # a caller leaving its own node out
    assert cluster.counted(kernel) == Counter({"6.0": 2, "6.1": 2})
    assert len(calls) == 4


def test_majority_of_counts_leaves_out_what_was_subtracted() -> None:
    from collections import Counter

    from preflight.facts import majority_counted, usual_among_others

    assert majority_counted(Counter({"a": 3, "b": 3})) == (None, 3, 6)
    assert majority_counted(Counter({"a": 3, "b": 0, "c": -1})) == ("a", 3, 3)
    # this node shows "a": of the others, 2 of 3 show "b"
    assert usual_among_others(Counter({"a": 2, "b": 2}), ["a"]) == "b"
    assert usual_among_others(Counter({"a": 2, "b": 1}), ["a"]) is None  # 1 of 2: no majority
    assert usual_among_others(Counter({"a": 1}), ["a"]) is None
