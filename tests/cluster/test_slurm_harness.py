"""The real Slurm of the simulated cluster: up in seconds, srun across hosts, nothing left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sim.cluster import SimCluster
from tests.sim.fixtures import leftovers
from tests.sim.slurm import SimSlurm

pytestmark = pytest.mark.cluster


def _running_from(folder: Path) -> list[str]:
    marker = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
    return found


def test_srun_runs_one_task_per_host_and_stop_leaves_nothing(sim_cluster) -> None:
    cluster: SimCluster = sim_cluster(4)
    slurm = SimSlurm(cluster).start()
    try:
        assert slurm.states() == dict.fromkeys(cluster.names, "idle")
        out = slurm.run("srun", "-N4", "--label", "hostname").stdout.splitlines()
        assert sorted(out) == [f"{i}: node-{i + 1}" for i in range(4)]
        # A task runs in its host's network namespace, with what its SSH sessions get.
        out = slurm.run("srun", "-N1", "-w", "node-3", "sh", "-c",
                        "ip -4 -o addr show eth0; command -v nvidia-smi").stdout
        assert cluster.address("node-3") in out and "/hosts/node-3/bin/nvidia-smi" in out
        slurm_dir = slurm.dir
        assert _running_from(slurm_dir)
    finally:
        slurm.stop()
    assert _running_from(slurm_dir) == [] and not slurm_dir.exists()
    cluster.stop()
    assert leftovers(cluster.id) == []


def test_a_stopped_slurmd_goes_down_and_comes_back(sim_slurm) -> None:
    slurm: SimSlurm = sim_slurm(2)
    slurm.stop_slurmd("node-2")
    out = slurm.run("srun", "-N2", "-w", "node-[1-2]", "hostname", check=False, timeout=120)
    assert out.returncode != 0 and "node-2" in out.stderr, out
    slurm.start_slurmd("node-2")
    slurm.run("scontrol", "update", "nodename=node-2", "state=resume", check=False)
    slurm.wait_idle(["node-2"])
    assert slurm.run("srun", "-N2", "hostname").stdout.split().count("node-2") == 1
