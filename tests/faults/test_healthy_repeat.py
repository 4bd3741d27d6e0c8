"""A healthy cluster must never cry wolf: three full runs in a row (each with new ephemeral
ports, bursts and source addresses), nothing fail/warn/error. The first measures the
bandwidth of every pair (the mesh), the others the default ring (the reach probes take
every pair at 6 hosts at any level). The five-in-a-row soak is bench/bench_healthy_repeat.py
(16 hosts by default, `6 5` at this size; docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.helpers import explain
from tests.faults.runs import DEFAULT_PAIRS, MESH, full_run, leftovers
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster
RUNS = 3


def test_healthy_cluster_three_runs_in_a_row(six_hosts: Callable[..., SimCluster],
                                             tmp_path: Path) -> None:
    clean_runs(six_hosts(), tmp_path)


def clean_runs(cluster: SimCluster, tmp_path: Path, timeout: float = 300) -> None:
    for attempt in range(1, RUNS + 1):
        pairs = MESH if attempt == 1 else DEFAULT_PAIRS
        run = full_run(cluster, tmp_path / f"run{attempt}", pairs=pairs, timeout=timeout)
        assert run.rc == 0 and run.bad() == [], f"run {attempt}: {explain(run)}"
        assert run.record["verdict"] == "GO"
        assert leftovers(cluster) == {}, f"run {attempt} left processes behind"
        statuses = {r["status"] for r in run.results}
        assert statuses <= {"pass", "skip"} and "pass" in statuses
