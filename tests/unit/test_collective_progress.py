"""Rank progress from the node script's JSON lines, who failed first, and the busbw table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preflight.collective.progress import (
    NodeRun,
    culprits,
    parse_lines,
    rank_progress,
    split_by_node,
    sweep_table,
)

SIZES = [1024, 4 << 20]


def line(rank: int, node: str, step: str, ok: bool = True, **extra: Any) -> dict[str, Any]:
    return {"rank": rank, "node": node, "step": step, "ok": ok, **extra}


def healthy(rank: int, node: str, times_us: tuple[float, float] = (10.0, 100.0)
            ) -> list[dict[str, Any]]:
    lines = [line(rank, node, s) for s in ("import", "store", "init", "barrier")]
    lines.append(line(rank, node, "correctness", sum=6.0, expected=6.0, wrong=0))
    lines += [line(rank, node, "sweep", size_bytes=size, time_us=t)
              for size, t in zip(SIZES, times_us, strict=True)]
    return [*lines, line(rank, node, "done")]


def upto(lines: list[dict[str, Any]], step: str) -> list[dict[str, Any]]:
    """The lines before the first one of `step`."""
    index = next(i for i, record in enumerate(lines) if record["step"] == step)
    return lines[:index]


RANK_NODE = {0: "a", 1: "b", 2: "c", 3: "d"}


def progress(per_node: dict[str, list[dict[str, Any]]]) -> dict[int, Any]:
    return rank_progress(RANK_NODE, {n: NodeRun(lines=ls) for n, ls in per_node.items()})


def test_parse_lines_keeps_step_records_and_skips_launcher_noise() -> None:
    text = "\n".join([
        "[1,0]<stdout>:" + json.dumps(line(0, "a", "store")),
        "Warning: Permanently added 'a' (ED25519) to the list of known hosts.",
        '{"not": "a step"}', "{broken json", json.dumps(line(1, "b", "init")),
    ])
    assert parse_lines(text) == [line(0, "a", "store"), line(1, "b", "init")]


def test_split_by_node_ignores_unknown_nodes() -> None:
    runs = split_by_node([line(0, "a", "store"), line(9, "zz", "store")], ["a", "b"])
    assert runs["a"].lines == [line(0, "a", "store")] and runs["b"].lines == []
    assert set(runs) == {"a", "b"}


def test_healthy_run_has_no_culprit() -> None:
    ranks = progress({n: healthy(r, n) for r, n in RANK_NODE.items()})
    assert all(p.done for p in ranks.values())
    assert culprits(ranks, len(SIZES)) == set()
    assert ranks[2].correctness == {"sum": 6.0, "expected": 6.0, "wrong": 0}


def test_every_rank_failing_at_the_store_is_a_culprit() -> None:
    per_node = {n: [*upto(healthy(r, n), "store"),
                    line(r, n, "store", ok=False, error="timed out", timed_out=r == 3)]
                for r, n in RANK_NODE.items()}
    ranks = progress(per_node)
    assert culprits(ranks, len(SIZES)) == {0, 1, 2, 3}
    assert {p.stopped_at(len(SIZES)) for p in ranks.values()} == {"store"}
    assert ranks[3].failure == {"step": "store", "error": "timed out", "timed_out": True}


def test_master_waiting_at_init_is_not_blamed_for_ranks_that_never_joined() -> None:
    master = [*upto(healthy(0, "a"), "init"), line(0, "a", "init", ok=False, error="wait")]
    others = {n: [*upto(healthy(r, n), "store"), line(r, n, "store", ok=False, error="x")]
              for r, n in RANK_NODE.items() if r}
    ranks = progress({"a": master, **others})
    assert culprits(ranks, len(SIZES)) == {1, 2, 3}
    assert ranks[0].reached == "store" and ranks[0].stopped_at(len(SIZES)) == "init"


def test_a_rank_that_died_silently_is_blamed_not_the_peers_that_noticed() -> None:
    per_node = {n: [*upto(healthy(r, n), "done"),
                    line(r, n, "sweep", ok=False, error="Connection closed by peer",
                         size_bytes=SIZES[1])]
                for r, n in RANK_NODE.items() if n != "c"}
    per_node["c"] = upto(healthy(2, "c"), "done")[:-1]  # killed during the last size
    ranks = progress(per_node)
    assert culprits(ranks, len(SIZES)) == {2}
    assert ranks[2].stopped_at(len(SIZES)) == "sweep" and ranks[2].failure is None
    assert ranks[0].failure is not None and ranks[0].failure["size_bytes"] == SIZES[1]


def test_a_rank_that_never_printed_is_blamed() -> None:
    per_node = {n: healthy(r, n) for r, n in RANK_NODE.items() if n != "d"}
    ranks = progress(per_node)
    assert culprits(ranks, len(SIZES)) == {3}
    assert ranks[3].reached is None and ranks[3].stopped_at(len(SIZES)) == "import"


def test_sweep_table_takes_the_slowest_rank_and_nccl_tests_busbw() -> None:
    per_node = {n: healthy(r, n, (10.0, 100.0 + r)) for r, n in RANK_NODE.items()}
    rows = sweep_table(progress(per_node), SIZES)
    assert [r["size_bytes"] for r in rows] == SIZES
    big = rows[1]
    assert big["time_us"] == 103.0
    algbw = (4 << 20) / 103e-6 / 1e9
    assert big["algbw_gbps"] == pytest.approx(algbw, rel=1e-5)
    assert big["busbw_gbps"] == pytest.approx(algbw * 2 * 3 / 4, rel=1e-5)


def test_sweep_table_leaves_out_sizes_not_every_rank_finished() -> None:
    per_node = {n: healthy(r, n) for r, n in RANK_NODE.items()}
    per_node["b"] = [r for r in per_node["b"] if r.get("size_bytes") != SIZES[1]]
    assert [r["size_bytes"] for r in sweep_table(progress(per_node), SIZES)] == [1024]


def test_a_node_its_launcher_never_reached_stopped_at_launch_not_import() -> None:
    runs = {"node-1": NodeRun([{"step": "launch", "rank": 0, "ok": True}]),
            "node-2": NodeRun([], error="ssh-error: open session: Timeout opening channel.")}
    ranks = rank_progress({0: "node-1", 1: "node-2"}, runs)
    assert ranks[1].failure == {"step": "launch", "timed_out": False,
                                "error": "ssh-error: open session: Timeout opening channel."}
    assert ranks[1].stopped_at(sizes=2) == "launch"
    assert ranks[0].failure is None


def test_step_seconds_are_the_slowest_ranks_with_the_sweep_summed() -> None:
    from preflight.collective.progress import step_seconds

    lines = [line(0, "a", "import", s=1.5), line(1, "b", "import", s=2.5),
             line(0, "a", "sweep", size_bytes=1024, time_us=1.0, s=0.25),
             line(0, "a", "sweep", size_bytes=4 << 20, time_us=9.0, s=0.5),
             line(1, "b", "sweep", size_bytes=1024, time_us=1.0, s=0.125)]
    ranks = rank_progress({0: "a", 1: "b"}, {"a": NodeRun(lines), "b": NodeRun()})
    assert step_seconds(ranks) == {"import": 2.5, "sweep": 0.75}
