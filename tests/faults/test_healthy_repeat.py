"""A healthy cluster must never cry wolf: five full runs in a row, nothing fail/warn/error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.helpers import explain
from tests.faults.runs import full_run, leftovers
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster
RUNS = 5


def test_healthy_cluster_five_runs_in_a_row(six_hosts: Callable[..., SimCluster],
                                            tmp_path: Path) -> None:
    five_clean_runs(six_hosts(), tmp_path)


def five_clean_runs(cluster: SimCluster, tmp_path: Path, timeout: float = 300) -> None:
    for attempt in range(1, RUNS + 1):
        run = full_run(cluster, tmp_path / f"run{attempt}", timeout=timeout)
        assert run.rc == 0 and run.bad() == [], f"run {attempt}: {explain(run)}"
        assert run.record["verdict"] == "GO"
        assert leftovers(cluster) == {}, f"run {attempt} left processes behind"
        statuses = {r["status"] for r in run.results}
        assert statuses <= {"pass", "skip"} and "pass" in statuses
