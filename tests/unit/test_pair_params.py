"""Pair checks of scheduled probes are parametrized over exactly the pairs their schedule
measures (ring, sample:K), and over every ordered pair for a mesh."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.config import Expectations
from preflight.gather import NodeOutcome
from preflight.inventory import Node
from preflight.measure.pairwise import PairProbe, measure_pairs
from preflight.pair_params import all_pairs, pair_params, scheduled_pairs
from preflight.pairjudge import Floors
from preflight.runctx import RunContext
from preflight.schedule import reach_targets


def names(n: int) -> list[str]:
    return [f"node-{i}" for i in range(1, n + 1)]


@pytest.mark.parametrize(("n", "mode"), [(6, "mesh"), (6, "auto"), (16, "auto"), (20, "mesh")])
def test_a_mesh_is_every_pair(n: int, mode: str) -> None:
    assert scheduled_pairs(names(n), mode) is None


@pytest.mark.parametrize(("n", "mode", "count"), [
    (20, "auto", 40), (64, "auto", 128), (64, "ring", 128), (7, "ring", 14), (2, "ring", 2)])
def test_ring_gives_both_directions_of_each_neighbour_pair(n: int, mode: str,
                                                           count: int) -> None:
    pairs = scheduled_pairs(names(n), mode)
    assert pairs is not None and len(pairs) == count
    assert all((b, a) in pairs for a, b in pairs)


@pytest.mark.parametrize(("n", "mode"), [(20, "auto"), (9, "ring"), (12, "sample:3"),
                                         (64, "ring"), (11, "sample:20")])
def test_the_parameters_are_the_pairs_the_probe_measures(n: int, mode: str) -> None:
    nodes = names(n)
    measured: list[tuple[str, str]] = []

    def test(src: str, dst: str) -> float:
        measured.append((src, dst))
        return 10.0

    probe = PairProbe("fake", test, Floors(None, 0.9, 0.5).rule, per_test_s=5, width=8)
    measure_pairs(nodes, mode, probe)
    assert scheduled_pairs(nodes, mode) == set(measured)


def test_without_a_context_or_a_scheduled_probe_every_pair() -> None:
    nodes = names(20)
    assert pair_params(None, ["iperf_probe"], nodes) == all_pairs(nodes)
    assert pair_params(None, ["mesh_probe", "pair"], nodes) == all_pairs(nodes)


def reach_context(n: int, level: str, tmp_path: Path) -> RunContext:
    nodes = [Node(name) for name in names(n)]
    ctx = RunContext(nodes=nodes, expect=Expectations(level=level), run_dir=tmp_path,
                     transport_factory=lambda host: None, seed=7)  # type: ignore[arg-type,return-value]
    ctx.set_outcomes({node.name: NodeOutcome(node.name, facts={}) for node in nodes})
    return ctx


@pytest.mark.parametrize("level", ["quick", "standard"])
def test_reach_checks_get_the_pairs_of_the_reach_schedule(level: str, tmp_path: Path) -> None:
    ctx = reach_context(20, level, tmp_path)
    schedule = reach_targets(names(20), level, 3, seed=7)
    expected = {(src, dst) for src, dsts in schedule.items() for dst in dsts}
    for probe in ("ports_probe", "mesh_probe", "mtu_probe"):
        assert set(pair_params(ctx, [probe, "pair"], names(20))) == expected


def test_reach_checks_at_full_get_every_pair(tmp_path: Path) -> None:
    ctx = reach_context(20, "full", tmp_path)
    assert pair_params(ctx, ["ports_probe"], names(20)) == all_pairs(names(20))
