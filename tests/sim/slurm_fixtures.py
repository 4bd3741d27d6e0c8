"""pytest fixtures for a real Slurm on the simulated cluster (registered by tests/conftest.py).

    @pytest.mark.cluster
    def test_something(sim_slurm):
        slurm = sim_slurm(4)                    # SimCluster + slurmctld + 4 slurmd, all idle
        slurm.run("srun", "-N4", "hostname")

`sim_slurm_module` shares one Slurm between the tests of a module that only read it.
Teardown kills every daemon and step and removes every file, also when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from .fixtures import MakeCluster
from .slurm import SimSlurm, missing_slurm
from .spec import HostSpec

MakeSlurm = Callable[..., SimSlurm]


def require_slurm() -> None:
    reason = missing_slurm()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the simulated Slurm cannot run: {reason}")
    pytest.skip(reason)


def _slurm_factory(make_cluster: MakeCluster, started: list[SimSlurm]) -> MakeSlurm:
    def make(n: int = 4, specs: Mapping[str, HostSpec] | None = None,
             conf_lines: Sequence[str] = ()) -> SimSlurm:
        require_slurm()
        slurm = SimSlurm(make_cluster(n, specs=specs), conf_lines)
        started.append(slurm)
        return slurm.start()

    return make


def _stop_slurms(started: list[SimSlurm]) -> None:
    for slurm in reversed(started):
        slurm.stop()


@pytest.fixture
def sim_slurm(sim_cluster: MakeCluster) -> Iterator[MakeSlurm]:
    """Factory: `sim_slurm(n, specs=...)` -> a started SimSlurm (its .cluster too), torn
    down after the test (Slurm first, then the cluster)."""
    started: list[SimSlurm] = []
    try:
        yield _slurm_factory(sim_cluster, started)
    finally:
        _stop_slurms(started)


@pytest.fixture(scope="module")
def sim_slurm_module(sim_cluster_module: MakeCluster) -> Iterator[MakeSlurm]:
    started: list[SimSlurm] = []
    try:
        yield _slurm_factory(sim_cluster_module, started)
    finally:
        _stop_slurms(started)
