"""Gathering through one srun step on the simulated cluster's real Slurm (slurmctld, one
slurmd per host): real `srun --label` splits the probe's JSON into labelled 1,024-byte
pieces, interleaved between tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight
from tests.sim.slurm import SimSlurm

pytestmark = pytest.mark.cluster


def test_gather_via_srun_names_the_node_whose_slurmd_is_gone(sim_slurm, tmp_path: Path) -> None:
    slurm: SimSlurm = sim_slurm(4)
    slurm.stop_slurmd("node-3")  # srun cannot start its task there: that node alone is named
    run = run_preflight(*slurm.preflight_args(), "--gather", "srun", "-k", "not iperf3",
                        out=tmp_path / "run", env=slurm.env(), inside=slurm.salloc(4))
    assert run.rc == 1, explain(run)
    assert run.only_involves("node-3"), explain(run)
    blocked = run.of("probe_ran", "node-3")[0]
    assert blocked["status"] == "blocked" and "srun started no probe on node-3" in \
        blocked["message"] and "node-3" in blocked["message"].split(":", 1)[1], blocked
    for name in ("node-1", "node-2", "node-4"):
        assert run.of("probe_ran", name)[0]["status"] == "pass"
        assert run.of("gpu_count", name)[0]["measured"] == 8


def test_gather_via_srun_on_sixteen_hosts(sim_slurm, tmp_path: Path) -> None:
    slurm: SimSlurm = sim_slurm(16)
    run = run_preflight(*slurm.preflight_args(), "--gather", "srun", "-k", "probe_ran or gpu",
                        out=tmp_path / "run", env=slurm.env(), inside=slurm.salloc(16))
    assert {r["node"] for r in run.of("probe_ran") if r["status"] == "pass"} == set(
        slurm.cluster.names), explain(run)
    assert run.rc == 0, explain(run)
