"""torch.distributed across the simulated hosts (gloo on the CPU), and the launchers."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight.applies import RunSettings, why_not
from preflight.collective.settings import size_label
from preflight.config import Expectations
from preflight.levels import TORCH_SWEEP
from tests.cluster.helpers import Run, explain, run_preflight
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster

FAST = ("--torch-timeout", "8")
# the default level measures busbw at one size (the full sweep is --level full's)
SIZES = [size_label(size) for size in TORCH_SWEEP["standard"][0]]
PROBE_MARK = "preflight-torch-probe"
ONLY_IF_SSH = why_not("launcher_ready", RunSettings(Expectations(), "ssh"))

def measurement(run: Run, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.run_dir / "measurements" / f"{name}.json").read_text())
    return data


def leftovers(cluster: SimCluster, wait_s: float = 10.0) -> dict[str, list[tuple[int, str]]]:
    """What still runs on the hosts, once ssh sessions had a moment to close."""
    left = {name: cluster.processes_left(name, wait_s) for name in cluster.names}
    return {name: procs for name, procs in left.items() if procs}


def assert_healthy_probe(run: Run, cluster: SimCluster, launcher: str,
                         left: Callable[[], dict[str, Any]] | None = None) -> None:
    """`left`: what still runs on the hosts afterwards (default: anything but sshd)."""
    assert run.rc == 0 and run.bad() == [], explain(run)
    for name in cluster.names:
        assert run.of("torch_rendezvous", name)[0]["status"] == "pass", explain(run)
        assert run.of("torch_allreduce", name)[0]["measured"] == "correct"
    busbw = run.of("torch_allreduce_busbw")[0]
    assert busbw["status"] == "pass" and busbw["unit"] == "GB/s"
    assert list(busbw["measured"]) == SIZES
    assert all(value > 0 for value in busbw["measured"].values()), busbw
    probe = measurement(run, "torch_allreduce")
    assert probe["launcher"] == launcher and probe["ok"] and probe["culprits"] == []
    plan = probe["plan"]
    assert (plan["backend"], plan["world_size"], plan["master"]) == ("gloo", cluster.n, "node-1")
    assert plan["master_addr"] == cluster.address("node-1")
    assert {n["ifname"] for n in plan["nodes"].values()} == {"eth0"}
    assert (left or (lambda: leftovers(cluster)))() == {}


@pytest.fixture(scope="module")
def healthy(sim_cluster_module: Any) -> SimCluster:
    cluster: SimCluster = sim_cluster_module(4)
    return cluster


def test_healthy_allreduce_over_ssh(healthy: SimCluster, tmp_path: Path) -> None:
    run = run_preflight(*healthy.preflight_args(), "-k", "torch or launcher",
                        out=tmp_path / "run")
    assert_healthy_probe(run, healthy, "ssh")
    # -k chose launcher_ready: it runs on each node and skips, as the table says why; only
    # a run without -k leaves it out (test_master_port_dropped_...)
    ready = run.of("launcher_ready")
    assert {(r["status"], r["message"]) for r in ready} == {
        ("skip", ONLY_IF_SSH)} and len(ready) == healthy.n
    assert run.record["not_applicable"] == []


def test_mpirun_launches_probe_and_every_node_is_ready(healthy: SimCluster,
                                                        tmp_path: Path) -> None:
    # Nothing but --launcher: preflight hands its --ssh-config/--known-hosts to mpirun's ssh
    # and, as root, allows Open MPI to run as root (SimCluster.mpirun_argv does the same).
    run = run_preflight(*healthy.preflight_args(), "--launcher", "mpirun",
                        "-k", "torch or launcher", out=tmp_path / "run")
    assert_healthy_probe(run, healthy, "mpirun")
    assert {r["node"] for r in run.of("launcher_ready") if r["status"] == "pass"} == set(
        healthy.names), explain(run)
    hostfile = (tmp_path / "run" / "launch" / "hostfile").read_text().splitlines()
    assert hostfile == [f"{name} slots=8" for name in healthy.names]  # slots as inventoried


def test_master_port_dropped_names_every_rank_that_cannot_reach_it(
        sim_cluster: Any, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(3)
    cluster.iptables("node-1", 29500, "DROP")
    run = run_preflight(*cluster.preflight_args(), *FAST, out=tmp_path / "run")
    assert run.rc == 1
    assert run.bad_summary() == {
        ("torch_rendezvous", "node-1", "fail"), ("torch_rendezvous", "node-2", "fail"),
        ("torch_rendezvous", "node-3", "fail"),
        ("tcp_ports", "node-2", "fail"), ("tcp_ports", "node-3", "fail"),
        ("firewall_consistent", "node-1", "fail"),  # the only node with a rule
    }, explain(run)
    master = f"{cluster.address('node-1')}:29500"
    for rank, name in enumerate(cluster.names):
        message = run.of("torch_rendezvous", name)[0]["message"]
        assert message.startswith(f"{name}: rank {rank} never reached the rendezvous store")
        assert f"from {name}, MASTER_ADDR {master} is filtered" in message, message
        assert "interface eth0 (GLOO_SOCKET_IFNAME, from the cluster address)" in message
    assert "no rank of any node reached the store on node-1" in run.of(
        "torch_rendezvous", "node-1")[0]["message"]
    assert "firewall drops TCP 29500 to node-1" in run.of("torch_rendezvous", "node-2")[0]["hint"]
    assert {r["status"] for r in run.of("torch_allreduce")} == {"skip"}
    # A default run with launcher ssh does not collect launcher_ready: said once, not per node
    assert run.of("launcher_ready") == []
    ruled_out = {e["check"]: e["reason"] for e in run.record["not_applicable"]}
    assert ruled_out["launcher_ready"] == ONLY_IF_SSH, run.record["not_applicable"]
    probe = measurement(run, "torch_allreduce")
    assert probe["culprits"] == [0, 1, 2]
    assert {r["stopped_at"] for r in probe["ranks"].values()} == {"store"}
    assert probe["duration_s"] < probe["deadline_s"]  # ended by its step deadlines, no hang
    assert leftovers(cluster) == {}


def _kill_mid_sweep(cluster: SimCluster, name: str, stop: threading.Event) -> list[int]:
    """SIGKILL the host's probe rank once gloo's pair connections are up, plus a moment:
    rendezvous, barrier and the correctness check take milliseconds; the sweep, seconds."""
    killed: list[int] = []
    while not stop.is_set():
        for pid, cmdline in cluster.processes(name):
            program = Path(cmdline.split(" ", 1)[0]).name
            if program.startswith("python") and PROBE_MARK in cmdline and _paired(pid):
                time.sleep(2.0)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return killed
        time.sleep(0.1)
    return killed


def _paired(pid: int) -> bool:
    """An established TCP connection to a port other than ssh and MASTER_PORT (gloo pairs)."""
    try:
        rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    known = {22, 29500}
    for row in rows:
        local, remote, state = row.split()[1:4]
        ports = {int(local.split(":")[1], 16), int(remote.split(":")[1], 16)}
        if state == "01" and not ports & known:
            return True
    return False


def test_rank_killed_mid_sweep_names_its_host(sim_cluster: Any, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(3)
    stop = threading.Event()
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.extend(_kill_mid_sweep(cluster, "node-3",
                                                                           stop)))
    killer.start()
    try:
        run = run_preflight(*cluster.preflight_args(), "-k", "torch", "--torch-sizes", "1K-1M",
                            "--torch-iters", "2000", "--torch-timeout", "60",
                            out=tmp_path / "run")
    finally:
        stop.set()
        killer.join()
    assert killed, "the probe never reached the sweep on node-3"
    assert run.bad_summary() == {("torch_allreduce", "node-3", "fail")}, explain(run)
    message = run.of("torch_allreduce", "node-3")[0]["message"]
    assert message.startswith("node-3: rank 2 failed during the all_reduce size sweep"), message
    assert message.endswith("the process was killed by a signal, without an error"), message
    assert {r["status"] for r in run.of("torch_rendezvous")} == {"pass"}
    others = [run.of("torch_allreduce", n)[0] for n in ("node-1", "node-2")]
    assert {r["status"] for r in others} == {"skip"}
    assert all("node-3 failed at sweep" in r["message"] for r in others), explain(run)
    assert measurement(run, "torch_allreduce")["culprits"] == [2]
    assert leftovers(cluster) == {}


def test_mpirun_readiness_names_the_node_it_cannot_start_on(
        sim_cluster: Any, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(3)
    orted = cluster.host("node-3").bin_dir / "orted"  # first on PATH for ssh sessions there
    orted.write_text("#!/bin/sh\necho 'orted: error while loading shared libraries: "
                     "libopen-rte.so.40: cannot open shared object file' >&2\nexit 127\n")
    orted.chmod(0o755)
    run = run_preflight(*cluster.preflight_args(), "--launcher", "mpirun",
                        "-k", "launcher_ready", out=tmp_path / "run")
    assert run.bad_summary() == {("launcher_ready", "node-3", "fail")}, explain(run)
    message = run.of("launcher_ready", "node-3")[0]["message"]
    assert message.startswith("node-3: did not answer `mpirun -N 1 --hostfile H hostname`")
    assert "libopen-rte.so.40" in message
    for name in ("node-1", "node-2"):
        result = run.of("launcher_ready", name)[0]
        assert result["status"] == "pass"
        assert result["measured"] == "answered alone (the full launch failed on node-3)"
    assert leftovers(cluster) == {}
