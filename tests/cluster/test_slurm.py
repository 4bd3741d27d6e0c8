"""Every srun path of preflight on the simulated cluster's real Slurm (slurmctld on the head,
one slurmd per host), run the way a user does: inside `salloc`, with `--slurm`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight
from tests.cluster.test_collectives import assert_healthy_probe
from tests.sim.slurm import SimSlurm

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def slurm(sim_slurm_module) -> SimSlurm:
    """One Slurm shared by the tests that only read it."""
    started: SimSlurm = sim_slurm_module(4)
    return started


def test_slurm_inventory_comes_from_the_allocation(slurm: SimSlurm, tmp_path: Path) -> None:
    run = run_preflight(*slurm.preflight_args(), "-k", "probe_ran", out=tmp_path / "run",
                        env=slurm.env(), inside=slurm.salloc(3))
    assert run.rc == 0, explain(run)
    assert sorted(r["node"] for r in run.of("probe_ran")) == ["node-1", "node-2", "node-3"]


def test_torch_probe_under_srun(slurm: SimSlurm, tmp_path: Path) -> None:
    run = run_preflight(*slurm.preflight_args(), "--launcher", "srun",
                        "-k", "torch or launcher", out=tmp_path / "run", env=slurm.env(),
                        inside=slurm.salloc(4))
    assert_healthy_probe(run, slurm.cluster, "srun", left=slurm.leftovers)
    assert {r["node"] for r in run.of("launcher_ready") if r["status"] == "pass"} == set(
        slurm.cluster.names), explain(run)
    ready = json.loads((tmp_path / "run" / "measurements" / "launcher_srun.json").read_text())
    assert ready["argv"][:2] == ["srun", "--nodes=4"] and ready["rc"] == 0, ready


def test_nccl_tests_launched_with_srun(slurm: SimSlurm, tmp_path: Path) -> None:
    run = run_preflight(*slurm.preflight_args(), "-k", "nccl_tests", "--nccl-tests",
                        "--nccl-tests-launcher", "srun", out=tmp_path / "run",
                        env=slurm.env(), inside=slurm.salloc(4))
    assert run.rc == 0 and run.bad() == [], explain(run)
    (multi,) = run.of("multi_node")
    assert multi["status"] == "pass" and 470 < multi["measured"] < 481, multi
    job = json.loads((tmp_path / "run" / "measurements" / "nccl_tests_multi.json").read_text())
    job = job["runs"]["all_reduce"]
    assert job["argv"][:4] == ["srun", "--nodes=4", "--ntasks=4", "--ntasks-per-node=1"]
    assert "# Rank 31 " in job["output"].replace("#  Rank", "# Rank")  # 4 hosts x 8 GPUs
    assert slurm.leftovers() == {}
