"""nccl-tests end to end on a 4-host simulated cluster: the all_reduce_perf stand-in run on
every host over SSH, then across the hosts with Open MPI's mpirun from the head.

Each test injects one fault on the shared cluster and takes it back afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight.collective.settings import LaunchSettings
from preflight.inventory import Node
from preflight.nccl_tests.launch import launch
from tests.cluster.helpers import Run, explain, run_preflight
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster

NCCL = ("-k", "nccl_tests", "--nccl-tests")
HOSTS = ["node-1", "node-2", "node-3", "node-4"]


@pytest.fixture(scope="module")
def cluster(sim_cluster_module) -> SimCluster:
    return sim_cluster_module(4)


@pytest.fixture
def mpi_env(cluster: SimCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Open MPI's daemons call back to mpirun on the head: keep that on the cluster subnet."""
    if shutil.which("mpirun") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and mpirun is missing (apt-get install openmpi-bin)")
        pytest.skip("mpirun not installed (apt-get install openmpi-bin)")
    env = {"OMPI_MCA_oob_tcp_if_include": str(cluster.subnet)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def healthy(cluster: SimCluster) -> Iterator[SimCluster]:
    yield cluster
    for name in HOSTS:
        cluster.update_spec(name, allreduce_busbw=480.0, hang=set())
    _wait_until_idle(cluster)


def _wait_until_idle(cluster: SimCluster) -> dict[str, list[tuple[int, str]]]:
    """What still runs on each host; Open MPI's daemons need a moment to exit after mpirun."""
    left: dict[str, list[tuple[int, str]]] = {}
    for _ in range(40):
        left = {name: cluster.processes(name) for name in HOSTS}
        if not any(left.values()):
            break
        time.sleep(0.25)
    return {name: procs for name, procs in left.items() if procs}


def _calls(cluster: SimCluster, name: str) -> list[str]:
    log = cluster.host(name).dir / "calls.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    return [line for line in lines if line.startswith("all_reduce_perf")]


def _measurement(run: Run, name: str) -> dict:
    return json.loads((run.run_dir / "measurements" / f"{name}.json").read_text())


def test_default_run_does_not_run_nccl_tests(healthy: SimCluster, tmp_path: Path) -> None:
    before = {name: len(_calls(healthy, name)) for name in HOSTS}
    run = run_preflight(*healthy.preflight_args(), "-k", "nccl_tests", out=tmp_path / "run")
    assert run.rc == 0, explain(run)
    assert [(r["check"], r["status"]) for r in run.results] == [("multi_node", "skip")]
    assert "opt-in: pass --nccl-tests" in run.results[0]["message"]
    assert {name: len(_calls(healthy, name)) for name in HOSTS} == before


def test_healthy_cluster_passes_with_busbw(healthy: SimCluster, mpi_env: dict[str, str],
                                           tmp_path: Path) -> None:
    run = run_preflight(*healthy.preflight_args(), *NCCL, out=tmp_path / "run", env=mpi_env)
    assert run.rc == 0, explain(run)
    assert run.bad() == [], explain(run)
    singles = run.of("single_node")
    assert sorted(r["node"] for r in singles if r["status"] == "pass") == HOSTS
    assert all(470 < r["measured"] < 481 and r["unit"] == "GB/s" for r in singles), singles
    (multi,) = run.of("multi_node")
    assert multi["status"] == "pass" and 470 < multi["measured"] < 481, multi
    assert multi["expected"] == ">= 312.8"  # 0.85 x 8 NICs x 46 GB/s per 400 Gb/s NIC
    single = _measurement(run, "nccl_tests_single")["nodes"]["node-2"]
    assert single["gpus"] == 8 and single["runs"]["all_reduce"]["argv"][-8:] == [
        "-b", "8", "-e", "8G", "-f", "2", "-g", "8"]
    job = _measurement(run, "nccl_tests_multi")["runs"]["all_reduce"]
    assert job["argv"][:5] == ["mpirun", "-np", "4", "-N", "1"]
    assert job["nodes"] == HOSTS and job["left_out"] == {}
    assert "# Rank 31 " in job["output"].replace("#  Rank", "# Rank")  # 4 hosts x 8 GPUs


def test_slow_node_is_named(healthy: SimCluster, mpi_env: dict[str, str],
                            tmp_path: Path) -> None:
    healthy.update_spec("node-3", allreduce_busbw=100.0)
    run = run_preflight(*healthy.preflight_args(), *NCCL, out=tmp_path / "run", env=mpi_env)
    assert run.rc == 1, explain(run)
    assert run.bad_summary() == {("single_node", "node-3", "fail"),
                                 ("multi_node", "cluster", "fail")}, explain(run)
    (slow,) = run.of("single_node", "node-3")
    assert slow["message"].startswith("node-3: all_reduce busbw 99.99 GB/s at 8 GiB (8 ranks), "
                                      "expected >= 335.8 GB/s (0.7 x cluster median")
    assert slow["measured"] == 99.99 and slow["hint"]
    (multi,) = run.of("multi_node")
    assert multi["message"].endswith("single-node trouble on node-3"), multi
    again = run_preflight("--from", str(run.run_dir), "-k", "nccl_tests", command="check",
                          out=tmp_path / "again")  # re-judged from the recording alone
    assert again.bad_summary() == run.bad_summary(), explain(again)


WRAPPER = """#!{python}
# nccl-tests on {bad} finds wrong values: the host's stand-in, its table as a real run
# with data corruption prints it (#wrong > 0 at >= 1 GiB, out of bounds FAILED, exit 1).
import os, subprocess, sys
done = subprocess.run(["all_reduce_perf", *sys.argv[1:]], capture_output=True, text=True)
if os.environ.get("PREFLIGHT_SIM_HOST") != {bad!r}:
    sys.stdout.write(done.stdout)
    sys.exit(done.returncode)
for line in done.stdout.splitlines():
    cells = line.split()
    if len(cells) == 13 and cells[0].isdigit() and int(cells[0]) >= 1 << 30:
        cells[8] = cells[12] = "12"
        line = "  ".join(cells)
    print(line.replace("Out of bounds values : 0 OK", "Out of bounds values : 4 FAILED"))
sys.exit(1)
"""


def test_wrong_values_fail_that_node(healthy: SimCluster, mpi_env: dict[str, str],
                                     tmp_path: Path) -> None:
    home = tmp_path / "nccl-tests"
    (home / "build").mkdir(parents=True)
    wrapper = home / "build" / "all_reduce_perf"
    wrapper.write_text(WRAPPER.format(python=sys.executable, bad="node-2"))
    wrapper.chmod(0o755)
    run = run_preflight(*healthy.preflight_args(), *NCCL, "--nccl-tests-home", str(home),
                        out=tmp_path / "run", env=mpi_env)
    assert run.rc == 1, explain(run)
    assert run.bad_summary() == {("single_node", "node-2", "fail"),
                                 ("multi_node", "cluster", "fail")}, explain(run)
    (wrong,) = run.of("single_node", "node-2")
    assert wrong["message"] == (  # 4 sizes >= 1 GiB x 2 cells x 12
        "node-2: all_reduce returned wrong data: 96 wrong values (#wrong), 4 out of bounds "
        "(expected 0)")
    assert (wrong["measured"], wrong["unit"]) == (96, "wrong values")
    assert _measurement(run, "nccl_tests_single")["nodes"]["node-2"]["found"]["via"] == {
        "all_reduce_perf": "home"}
    (multi,) = run.of("multi_node")
    assert multi["message"].endswith("single-node trouble on node-2"), multi


def test_hung_all_reduce_perf_errors_in_time_and_leaves_nothing(
        healthy: SimCluster, mpi_env: dict[str, str], tmp_path: Path) -> None:
    healthy.hang("node-2", "all_reduce_perf")
    run = run_preflight(*healthy.preflight_args(), *NCCL, "--nccl-tests-timeout", "8",
                        out=tmp_path / "run", env=mpi_env, timeout=120)
    assert run.rc == 1, explain(run)
    assert run.bad_summary() == {("single_node", "node-2", "error"),
                                 ("multi_node", "cluster", "warn")}, explain(run)
    (hung,) = run.of("single_node", "node-2")
    assert hung["message"] == "node-2: all_reduce_perf did not finish within 8 s and was killed"
    (multi,) = run.of("multi_node")
    assert multi["message"].endswith(
        "left out: node-2 (its single-node run did not finish)"), multi
    assert _measurement(run, "nccl_tests_multi")["runs"]["all_reduce"]["nodes"] == [
        "node-1", "node-3", "node-4"]
    assert _wait_until_idle(healthy) == {}


def test_hung_rank_under_mpirun_is_stopped(healthy: SimCluster, mpi_env: dict[str, str]) -> None:
    healthy.hang("node-4", "all_reduce_perf")
    perf = ["all_reduce_perf", "-b", "8", "-e", "1G", "-f", "2", "-g", "8"]
    settings = LaunchSettings(ssh_config=str(healthy.ssh_config))
    result = launch(settings, "mpirun", [Node(name) for name in HOSTS], perf, 5)
    said = (result.stdout + result.stderr).decode()
    assert result.rc not in (0, None), said
    assert "time limit for job execution has been reached" in said
    assert _wait_until_idle(healthy) == {}
