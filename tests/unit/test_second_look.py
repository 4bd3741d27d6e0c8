"""The second look: a failing sampled pair retested with each end against a healthy node."""

from __future__ import annotations

from typing import Any

from preflight.measure.second_look import second_look
from preflight.schedule import reach_targets

NODES = [f"node-{i}" for i in range(1, 13)]


def probe(bad_dst: frozenset[str] = frozenset(), bad_src: frozenset[str] = frozenset(),
          bad_links: frozenset[tuple[str, str]] = frozenset()) -> Any:
    def verdict(src: str, dst: str) -> list[str]:
        bad = dst in bad_dst or src in bad_src or (src, dst) in bad_links
        return ["filtered" if bad else "ok", ""]

    def run(targets: dict[str, list[str]]) -> dict[str, list[str]]:
        return {f"{s}|{d}": verdict(s, d) for s, dsts in targets.items() for d in dsts}
    return run


def failed(verdict: list[str]) -> bool:
    return verdict[0] not in ("ok", "error")


def look(run: Any) -> dict[str, Any]:
    targets = reach_targets(NODES, "quick")
    return second_look(targets, run(targets), failed, run)


def test_a_node_dropping_what_comes_in_is_blamed_not_its_partners() -> None:
    found = look(probe(bad_dst=frozenset({"node-5"})))
    assert set(found) == {"node-4|node-5"}  # its ring predecessor
    assert {entry["blame"] for entry in found.values()} == {"dst"}
    for key, entry in found.items():
        assert entry["dst_with"][0] not in ("node-4", "node-5", "node-6"), key


def test_a_bad_source_and_a_bad_link_are_told_apart() -> None:
    assert {e["blame"] for e in look(probe(bad_src=frozenset({"node-7"}))).values()} == {"src"}
    found = look(probe(bad_links=frozenset({("node-3", "node-4")})))
    assert {k: e["blame"] for k, e in found.items()} == {"node-3|node-4": "link"}


def test_a_node_failing_many_pairs_is_retested_once_per_direction() -> None:
    asked: list[dict[str, list[str]]] = []
    base = probe(bad_src=frozenset({"node-7"}), bad_dst=frozenset({"node-7"}))

    def run(targets: dict[str, list[str]]) -> dict[str, list[str]]:
        asked.append(targets)
        return base(targets)  # type: ignore[no-any-return]
    found = second_look(reach_targets(NODES, "standard"), base(reach_targets(NODES, "standard")),
                        failed, run)
    retest = asked[0]
    assert len(retest["node-7"]) == 1  # one healthy partner for node-7 as a source
    assert sum(dsts.count("node-7") for dsts in retest.values()) == 1  # and as a target
    assert {entry["blame"] for entry in found.values()} <= {"src", "dst", "both"}
    assert len({entry["src_with"][0] for key, entry in found.items()
                if key.startswith("node-7|")}) == 1


def test_nothing_to_look_at_when_every_pair_was_measured_or_nothing_failed() -> None:
    run = probe(bad_dst=frozenset({"node-5"}))
    full = reach_targets(NODES, "full")
    assert second_look(full, run(full), failed, run) == {}
    assert look(probe()) == {}


def test_no_healthy_node_left_means_no_second_look() -> None:
    assert look(probe(bad_dst=frozenset(NODES))) == {}
