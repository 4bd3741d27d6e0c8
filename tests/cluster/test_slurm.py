"""Every srun path of preflight on the simulated cluster's real Slurm (slurmctld on the head,
one slurmd per host), run the way a user does: inside `salloc`, with `--slurm`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.helpers import Run, explain, run_preflight
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


def _gpu_run(slurm: SimSlurm, out: Path, *flags: str, nodes: int = 4,
             inside: bool = True) -> Run:
    inventory = slurm.preflight_args() if inside else [
        "--hosts", f"node-[1-{nodes}]", *slurm.preflight_args()[1:]]
    return run_preflight(*inventory, "-k", "probe_ran or gpu_count", *flags, out=out,
                         env=slurm.env(), inside=slurm.salloc(nodes) if inside else ())


def test_drain_dry_run_then_apply_then_undrain(sim_slurm, tmp_path: Path) -> None:
    slurm: SimSlurm = sim_slurm(4)
    cluster = slurm.cluster
    cluster.update_spec("node-2", gpus=7)
    slurm.run("scontrol", "update", "nodename=node-4", "state=drain", "reason=admin: fan")

    # node-4 is drained by its admin: allocations get node-1..3
    dry = _gpu_run(slurm, tmp_path / "dry", "--drain", "--max-exclude", "1", nodes=3)
    assert dry.rc == 1 and dry.bad_nodes() == {"node-2"}, explain(dry)
    line = "scontrol update nodename=node-2 state=drain 'reason=preflight: gpu_count: "
    assert line in dry.stdout, dry.stdout
    # a dry run changes nothing: idle once the run's own allocation has ended ("comp" while
    # slurmctld completes it; a drain would never come back to idle)
    slurm.wait_state({"node-2": "idle"})

    applied = _gpu_run(slurm, tmp_path / "apply", "--drain=apply", "--max-exclude", "1",
                       nodes=3)
    assert line in (tmp_path / "apply" / "drain.txt").read_text(), explain(applied)
    # drained while the run's own allocation held it: "drng" until slurmctld sees that
    # job end, then "drain"
    slurm.wait_state({"node-2": "drain"})
    assert slurm.reason("node-2").startswith("preflight: gpu_count: ")

    cluster.update_spec("node-2", gpus=8)  # repaired; a drained node takes no allocation
    resumed = _gpu_run(slurm, tmp_path / "undrain", "--undrain=apply", inside=False)
    assert "nodename=node-4" not in resumed.stdout
    assert resumed.rc == 0, explain(resumed)
    assert "scontrol update nodename=node-2 state=resume" in resumed.stdout
    slurm.wait_idle(["node-2"])
    assert slurm.states()["node-4"] == "drain" and slurm.reason("node-4") == "admin: fan"


def test_the_brake_stops_a_drain_of_too_many_nodes(sim_slurm, tmp_path: Path) -> None:
    slurm: SimSlurm = sim_slurm(4)
    slurm.cluster.update_spec("node-2", gpus=7)  # one outlier (two of four: cluster-wide)
    run = _gpu_run(slurm, tmp_path / "run", "--drain=apply", "--max-exclude", "0",
                   "--expect", "gpus_per_node=8")
    assert run.rc == 1 and run.bad_nodes() == {"node-2"}, explain(run)
    assert "not draining 1 of 4 nodes: more than --max-exclude allows (0)" in run.stdout
    assert "scontrol update" not in run.stdout
    slurm.wait_idle(slurm.cluster.names)  # nothing drained ("comp" while its job ends)
