"""`preflight launch` on the simulated cluster: after a GO, the printed lines start the job.

The torchrun lines run as printed over SSH, one per node, a 2-step gloo all_reduce; the
mpirun line runs as printed on the master and starts `hostname` on every host; nccl.env
names the cluster interface and no other.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import WITHOUT_BANDWIDTH, Run, explain, run_preflight
from tests.cluster.test_collectives import leftovers
from tests.sim.cluster import SimCluster
from tests.sim.spec import HostSpec

pytestmark = pytest.mark.cluster

GPUS = 2  # stand-in GPUs per host: torchrun starts one CPU (gloo) process per GPU seen
JOB_TIMEOUT_S = 240
ALLREDUCE = '''\
import datetime, os, sys
import torch
import torch.distributed as dist
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=90))
rank, world = dist.get_rank(), dist.get_world_size()
for step in range(2):
    value = torch.full((1024,), float(rank + 1))
    dist.all_reduce(value)
    assert value[0].item() == world * (world + 1) / 2 * 1.0, value[0].item()
    print(f"rank {rank}/{world} step {step} ok on {os.uname().nodename}", flush=True)
dist.destroy_process_group()
'''
TORCHRUN = f"#!{sys.executable}\nfrom torch.distributed.run import main\nmain()\n"
ROOT_OK = ["env", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]


@pytest.fixture(scope="module")
def cluster(sim_cluster_module: Any) -> SimCluster:
    made: SimCluster = sim_cluster_module(3, specs=dict.fromkeys(
        ["node-1", "node-2", "node-3"], HostSpec(gpus=GPUS)))
    for host in made.hosts.values():  # torch's console script, as pip installs it
        launcher = host.bin_dir / "torchrun"
        launcher.write_text(TORCHRUN)
        launcher.chmod(0o755)
    return made


@pytest.fixture(scope="module")
def go_run(cluster: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Run:
    # The launch plan reads the ports and torch probes, not the bandwidth ones: those are
    # left out, so a healthy link's dip under the suite's load cannot make this run NO-GO.
    run = run_preflight(*cluster.preflight_args(), "-k", WITHOUT_BANDWIDTH,
                        out=tmp_path_factory.mktemp("go") / "run", timeout=600)
    assert run.rc == 0 and run.bad() == [], explain(run)
    return run


def launch(run: Run, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "preflight", "launch", str(run.run_dir), *args],
                          capture_output=True, text=True, timeout=60)


def commands(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line and not line.startswith("#")]


def test_go_run_ends_with_the_launch_line_and_records_the_plan(go_run: Run,
                                                               cluster: SimCluster) -> None:
    assert f"Launch: preflight launch {go_run.run_dir} --launcher mpirun" in go_run.stdout
    block = go_run.record["launch"]
    assert (block["master"], block["master_addr"]) == ("node-1", cluster.address("node-1"))
    assert (block["master_port"], block["master_port_proven"]) == (29500, True)
    assert (block["interface"], block["nproc_per_node"], block["world_size"]) == ("eth0", 2, 6)


def test_printed_torchrun_lines_run_an_allreduce_on_every_node(
        go_run: Run, cluster: SimCluster, tmp_path: Path) -> None:
    script = tmp_path / "allreduce.py"
    script.write_text(ALLREDUCE)
    printed = launch(go_run, "--launcher", "torchrun", "--script", str(script))
    assert printed.returncode == 0, printed.stderr
    lines = commands(printed.stdout)
    assert len(lines) == cluster.n
    jobs = [subprocess.Popen(cluster.ssh_argv(name, line), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
            for name, line in zip(cluster.names, lines, strict=True)]
    try:
        outputs = [job.communicate(timeout=JOB_TIMEOUT_S) for job in jobs]
    finally:
        for job in jobs:
            job.kill()
    for name, job, (out, err) in zip(cluster.names, jobs, outputs, strict=True):
        assert job.returncode == 0, f"{name}: {err[-3000:]}"
        assert sorted(line for line in out.splitlines() if "step 1 ok" in line) == sorted(
            f"rank {r}/6 step 1 ok on {name}" for r in ranks(cluster, name)), out
    assert leftovers(cluster) == {}


def ranks(cluster: SimCluster, name: str) -> range:
    first = cluster.names.index(name) * GPUS
    return range(first, first + GPUS)


def test_printed_mpirun_line_starts_hostname_on_every_host(go_run: Run,
                                                           cluster: SimCluster) -> None:
    printed = launch(go_run, "--launcher", "mpirun", "--script", "hostname")
    assert printed.returncode == 0, printed.stderr
    [line] = commands(printed.stdout)
    assert "--mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0" in line
    # Run where the printout says: on the master, as root (Open MPI wants that said twice).
    done = subprocess.run(cluster.ssh_argv("node-1", shlex.join(ROOT_OK) + " " + line),
                          capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(done.stdout.split()) == sorted(cluster.names * GPUS)
    assert leftovers(cluster) == {}


def test_env_file_names_the_cluster_interface_and_no_other(go_run: Run) -> None:
    assert launch(go_run).returncode == 0
    text = (go_run.run_dir / "nccl.env").read_text()
    values = dict(line.split("=", 1) for line in text.splitlines()
                  if line and not line.startswith("#"))
    assert values["NCCL_SOCKET_IFNAME"] == values["GLOO_SOCKET_IFNAME"] == "eth0"
    facts = json.loads((go_run.run_dir / "facts.json").read_text())
    others = {i["name"] for node in facts["nodes"].values()
              for i in node["facts"]["interfaces"]} - {"eth0"}
    assert others and not any(name in text.split() or f"={name}" in text for name in others)


def test_no_go_refuses_naming_the_finding_then_excludes_the_node(sim_cluster: Any,
                                                                 tmp_path: Path) -> None:
    faulty: SimCluster = sim_cluster(3, specs=dict.fromkeys(
        ["node-1", "node-2", "node-3"], HostSpec(gpus=GPUS)))
    faulty.iptables("node-3", 29500, "DROP")
    run = run_preflight(*faulty.preflight_args(), "-k", "tcp_ports or gpu_count",
                        out=tmp_path / "run")
    assert run.rc == 1 and run.record["launch"] is None, explain(run)
    assert "Launch:" not in run.stdout
    refused = launch(run, "--launcher", "torchrun")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith(
        "preflight launch: refused: NO-GO: these findings stand in the way\n"
        "  node-3: tcp_ports (tcp-29500-filtered, nodes): node-1: TCP 29500 (MASTER_PORT) "
        "filtered to node-3"), \
        refused.stderr
    kept = launch(run, "--launcher", "torchrun", "--exclude-bad")
    assert kept.returncode == 0, kept.stderr
    assert "#   excluded: node-3" in kept.stdout.splitlines()
    lines = commands(kept.stdout)
    assert [shlex.split(line)[-6:] for line in lines] == [
        ["--nnodes=2", f"--nproc-per-node={GPUS}", f"--node-rank={rank}",
         f"--master-addr={faulty.address('node-1')}", "--master-port=29500", "train.py"]
        for rank in (0, 1)]
