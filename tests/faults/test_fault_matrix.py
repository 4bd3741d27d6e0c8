"""Issue 8's fault matrix: each fault injected for real on one host (or pair) of a 6-host
simulated cluster, found by a full default run (without the probes its fault cannot reach:
FaultCase.probes), named on the right subject by the right check, and nothing else
fail/error/warn/blocked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.helpers import Run, explain
from tests.faults.cases import FAULTY, NAMES, RUNNABLE, FaultCase
from tests.faults.runs import full_run, involves, leftovers, result_key
from tests.sim.cluster import SimCluster
from tests.sim.spec import HostSpec

pytestmark = pytest.mark.cluster


def build(case: FaultCase, make: Callable[..., SimCluster], tmp_path: Path) -> tuple[
        SimCluster, list[str]]:
    """The cluster with the fault in place, and the arguments the run needs."""
    specs = {name: HostSpec(**case.base) for name in NAMES} if case.base else None
    cluster = make(specs=specs)
    if case.change:
        cluster.update_spec(FAULTY, **case.change)  # after start: the hostfile keeps slots=8
    args = case.inject(cluster, tmp_path) if case.inject else []
    return cluster, [*case.probe_args, *case.args, *args]


def assert_reported(run: Run, case: FaultCase) -> None:
    bad = {result_key(r): r["status"] for r in run.bad()}
    assert {k: s for k, s in bad.items() if s != "blocked"} == case.expected, explain(run)
    blocked = {k for k, s in bad.items() if s == "blocked"}
    if case.blocks is None:
        assert blocked == set(), explain(run)
    else:  # an unreachable node's checks are blocked (or not applicable), never passed
        about = [r for r in run.results if involves(r, case.blocks)]
        assert blocked and blocked <= {result_key(r) for r in about}, explain(run)
        passed = [r for r in about if r["status"] == "pass" and result_key(r) not in case.passes]
        assert not passed, explain(run)
    left_out = [key for key in map(result_key, run.results) if key.startswith(case.left_out)]
    assert left_out == [], "the run was to leave them out (docs/faults.md says so)"
    headline = next(r for r in run.results if result_key(r) == case.headline)
    for fragment in case.says:
        assert fragment in headline["message"], explain(run)
    assert headline["hint"] == case.hint, headline
    assert run.rc == 1, explain(run)


@pytest.mark.parametrize("case", RUNNABLE, ids=[case.id for case in RUNNABLE])
def test_fault_is_found_on_its_subject_and_nothing_else(
        case: FaultCase, six_hosts: Callable[..., SimCluster], tmp_path: Path) -> None:
    cluster, args = build(case, six_hosts, tmp_path)
    run = full_run(cluster, tmp_path / "run", *args, pairs=case.pairs, timeout=600)
    assert_reported(run, case)
    assert leftovers(cluster) == {}
