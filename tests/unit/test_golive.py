"""`preflight launch`: the plan from recorded facts (the real probe against stand-in tools),
the verdicts of the real fabric checks on them, and the printers per launcher."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from preflight.checks import check_fabric
from preflight.cli import main
from preflight.config import Expectations
from preflight.facts import ClusterFacts
from preflight.golive.command import guess_launcher, launch_block
from preflight.golive.env import Setting
from preflight.golive.plan import LaunchPlan, Refused, plan_launch
from preflight.golive.printers import env_file_text, mpirun_argv, render, srun_argv
from preflight.golive.runread import RunInputs
from preflight.inventory import Node
from preflight.reports.schema import validate_results
from preflight.results import Result, RunRecord, Status, write_json
from tests.faults.recorded import cluster_of, facts_for, judge, outcome, write_facts_json
from tests.sim.spec import HostSpec, IbPort

NAMES = ["node-1", "node-2", "node-3"]
P5 = HostSpec(gpus=8, efa_count=32, nics=[], ib_ports=[])
NO_FABRIC = HostSpec(gpus=2, nics=[], ib_ports=[])


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hosts")


def cluster_ip(name: str) -> str:
    return f"198.18.0.{NAMES.index(name) + 1}"


def interfaces(name: str, management_first: bool = False) -> list[dict[str, Any]]:
    """lo, the cluster NIC ens6 and, listed first where asked, a management NIC eth0 that
    holds the default route (the first up interface with an IPv4 address)."""
    loop = {"name": "lo", "mtu": 65536, "state": "unknown", "addresses": ["127.0.0.1"]}
    cluster = {"name": "ens6", "mtu": 9001, "state": "up", "addresses": [cluster_ip(name)]}
    management = {"name": "eth0", "mtu": 1500, "state": "up",
                  "addresses": [f"10.0.0.{NAMES.index(name) + 1}"]}
    return [loop, management, cluster] if management_first else [loop, cluster]


def node_facts(spec: HostSpec, hosts: Path, name: str, *, management_first: bool = False,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    facts = facts_for(spec, hosts, NAMES)
    facts["interfaces"] = interfaces(name, management_first)
    facts["resolve"] = {peer: [cluster_ip(peer)] for peer in NAMES}
    facts["env"] = dict(env or {})
    return facts


def cluster(specs: dict[str, HostSpec], hosts: Path, **kwargs: Any) -> ClusterFacts:
    return cluster_of({n: node_facts(spec, hosts, n, **kwargs) for n, spec in specs.items()},
                      dict.fromkeys(specs, 8))


def result(check: str, status: Status, node: str | None = None,
           pair: tuple[str, str] | None = None, message: str = "") -> Result:
    subject = f"{pair[0]}-{pair[1]}" if pair else node or "cluster"
    return Result(id=f"checks/x.py::{check}[{subject}]", check=check, family="x",
                  status=status, node=node, pair=pair, message=message)


def judged(check: Any, facts: ClusterFacts, expect: Expectations) -> list[Result]:
    """The real check on every node, as the plugin would record it."""
    found = []
    for name in facts.names:
        status, message, _ = judge(check, node=facts.node(name), cluster=facts, expect=expect)
        found.append(result(check.__name__.removeprefix("check_"), Status(status), name,
                            message=message))
    return found


def ports_pairs(verdict: str = "open", port: int = 29500) -> list[Result]:
    status = Status.PASS if verdict == "open" else Status.FAIL
    return [result("tcp_ports", status, pair=(src, dst)) for src in NAMES for dst in NAMES
            if src != dst]


def ports_probe(verdicts: dict[int, str], listeners: dict[str, str] | None = None
                ) -> dict[str, Any]:
    pairs = {f"{s}|{d}": {str(p): [v, ""] for p, v in verdicts.items()}
             for s in NAMES for d in NAMES if s != d}
    listening = {n: {"address": a} for n, a in (listeners or {}).items()}
    return {"ports": sorted(verdicts), "listeners": listening, "pairs": pairs}


def inputs(facts: ClusterFacts, results: list[Result], measurements: dict[str, Any] | None = None,
           not_applicable: dict[str, str] | None = None, **expect: Any) -> RunInputs:
    record = RunRecord("0", ["preflight", "run"], "", hosts=list(facts.names), results=results,
                       thresholds=Expectations(**expect).to_dict(),
                       not_applicable=[{"check": c, "reason": r}
                                       for c, r in (not_applicable or {}).items()])
    return RunInputs(facts, dict.fromkeys(facts.names), record, dict(measurements or {}))


def env_of(plan: LaunchPlan) -> dict[str, str | None]:
    return {s.name: s.value for s in plan.env}


def why(plan: LaunchPlan, name: str) -> str:
    return next(s.why for s in plan.env if s.name == name)


# EFA (p5-like) -------------------------------------------------------------------------


def test_efa_p5_like_nodes_get_efa_with_device_rdma(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, P5), hosts)
    expect = Expectations(efa_count=32)
    results = [*judged(check_fabric.check_efa_count, facts, expect), *ports_pairs(),
               *[result("gpudirect_nic", Status.PASS, n) for n in NAMES]]
    plan = plan_launch(inputs(facts, results, {"ports": ports_probe({22: "open", 29500: "open"})},
                              efa_count=32))
    env = env_of(plan)
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert why(plan, "FI_PROVIDER") == "efa_count passed: 32 EFA devices per node"
    assert env["NCCL_IB_HCA"] is None
    assert why(plan, "NCCL_IB_HCA") == "no InfiniBand/RoCE port in the facts (ibstat)"
    assert env["NCCL_SOCKET_IFNAME"] == "ens6" and env["NCCL_DEBUG"] == "WARN"
    assert [(n.nproc, n.nproc_source) for n in plan.nodes] == [(8, "GPUs seen")] * 3
    assert plan.world_size == 24 and plan.nproc_per_node == 8


def test_efa_without_gpudirect_shown_leaves_device_rdma_out(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, P5), hosts)
    results = [*judged(check_fabric.check_efa_count, facts, Expectations()), *ports_pairs()]
    skipped = [*results, *[result("gpudirect_nic", Status.SKIP, n, message="no topology")
                           for n in NAMES]]
    plan = plan_launch(inputs(facts, skipped))
    assert env_of(plan)["FI_PROVIDER"] == "efa"
    assert env_of(plan)["FI_EFA_USE_DEVICE_RDMA"] is None
    assert why(plan, "FI_EFA_USE_DEVICE_RDMA") == (
        "GPUDirect RDMA not shown (gpudirect_nic skipped: no topology)")
    # The default run does not collect it: the record says why, once.
    ruled_out = {"gpudirect_nic": "the profile does not expect GPUDirect RDMA"}
    plan = plan_launch(inputs(facts, results, not_applicable=ruled_out))
    assert env_of(plan)["FI_EFA_USE_DEVICE_RDMA"] is None
    assert why(plan, "FI_EFA_USE_DEVICE_RDMA") == (
        "GPUDirect RDMA not shown (gpudirect_nic not applicable: the profile does not expect "
        "GPUDirect RDMA)")


# InfiniBand ------------------------------------------------------------------------------


def eight_hcas(down: str | None = None) -> list[IbPort]:
    return [IbPort(ca=f"mlx5_{i}", **({"state": "Down", "physical_state": "Disabled"}
                                      if f"mlx5_{i}" == down else {})) for i in range(8)]


def test_ib_hca_that_is_down_is_left_out_of_nccl_ib_hca(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, HostSpec(gpus=8, ib_ports=eight_hcas("mlx5_3"))),
                    hosts)
    results = [*judged(check_fabric.check_ib_ports, facts, Expectations()), *ports_pairs()]
    assert {r.status for r in results} == {Status.PASS}  # down everywhere: the norm here
    plan = plan_launch(inputs(facts, results))
    hca = env_of(plan)["NCCL_IB_HCA"]
    assert hca == "=" + ",".join(f"mlx5_{i}:1" for i in (0, 1, 2, 4, 5, 6, 7))
    assert why(plan, "NCCL_IB_HCA") == ("ib_ports passed: 7 ports Active at >= 400 Gb/s on "
                                        "every node; left out mlx5_3:1 (Down on node-1)")
    assert "NCCL_IB_GID_INDEX" not in env_of(plan)  # InfiniBand, not RoCE


def test_hca_down_on_one_node_refuses_then_excludes_that_node(hosts: Path) -> None:
    specs = dict.fromkeys(NAMES, HostSpec(gpus=8))
    specs["node-3"] = HostSpec(gpus=8, ib_ports=eight_hcas("mlx5_3"))
    facts = cluster(specs, hosts)
    results = [*judged(check_fabric.check_ib_ports, facts, Expectations()), *ports_pairs()]
    with pytest.raises(Refused) as refused:
        plan_launch(inputs(facts, results))
    assert refused.value.headline == "NO-GO: these findings stand in the way"
    assert refused.value.reasons[0] == (
        "node-3: ib_ports (ib-ports-fail, nodes): node-3: mlx5_3 port 1: Down "
        "(expected Active)")
    plan = plan_launch(inputs(facts, results), exclude_bad=True)
    assert [n.name for n in plan.nodes] == ["node-1", "node-2"] and plan.excluded == ["node-3"]
    assert env_of(plan)["NCCL_IB_HCA"] == "=" + ",".join(f"mlx5_{i}:1" for i in range(8))


def test_roce_gid_index_only_where_the_facts_show_it(hosts: Path) -> None:
    roce = HostSpec(gpus=8, ib_ports=[IbPort(ca=f"mlx5_{i}", link_layer="Ethernet")
                                      for i in range(2)])
    results = [result("ib_ports", Status.PASS, n) for n in NAMES]
    unset = plan_launch(inputs(cluster(dict.fromkeys(NAMES, roce), hosts), results))
    assert env_of(unset)["NCCL_IB_GID_INDEX"] is None
    assert "no GID table" in why(unset, "NCCL_IB_GID_INDEX")
    given = cluster(dict.fromkeys(NAMES, roce), hosts, env={"NCCL_IB_GID_INDEX": "3"})
    assert env_of(plan_launch(inputs(given, results)))["NCCL_IB_GID_INDEX"] == "3"


def test_ib_hca_left_out_when_ib_ports_did_not_pass(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, HostSpec(gpus=8)), hosts)
    plan = plan_launch(inputs(facts, ports_pairs()))
    assert env_of(plan)["NCCL_IB_HCA"] is None and why(plan, "NCCL_IB_HCA") == (
        "ib_ports did not run")


# Addresses and ports -----------------------------------------------------------------------


def test_master_addr_is_on_the_cluster_interface_not_the_default_route_one(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, NO_FABRIC), hosts, management_first=True)
    assert facts.node("node-1").cluster_interface(Expectations())["name"] == "eth0"  # the trap
    for probe in ({}, {"ports": ports_probe({29500: "open"},
                                            {n: cluster_ip(n) for n in NAMES})}):
        plan = plan_launch(inputs(facts, ports_pairs(), probe))
        assert (plan.master.name, plan.master.address) == ("node-1", "198.18.0.1")
        assert {n.interface for n in plan.nodes} == {"ens6"}
        assert env_of(plan)["NCCL_SOCKET_IFNAME"] == "ens6"
        assert why(plan, "NCCL_SOCKET_IFNAME") == (
            "ens6 holds every node's probed address; tcp_ports passed over it")


def test_port_is_the_one_proven_open_to_the_master(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, NO_FABRIC), hosts)
    proven = plan_launch(inputs(facts, ports_pairs(),
                                {"ports": ports_probe({22: "open", 29500: "filtered",
                                                       29501: "open"})}))
    assert (proven.master_port, proven.port_proven) == (29501, True)
    assert proven.port_why == "tcp_ports: TCP 29501 open to node-1 from the other 2 nodes"
    unproven = plan_launch(inputs(facts, [result("gpu_count", Status.PASS, n) for n in NAMES]))
    assert (unproven.master_port, unproven.port_proven) == (29500, False)
    assert unproven.port_why == ("not proven open (tcp_ports did not run): the configured "
                                 "master_port")
    assert env_of(unproven)["NCCL_SOCKET_IFNAME"] is None
    assert why(unproven, "NCCL_SOCKET_IFNAME").startswith("no probe across the nodes passed")


def test_nproc_from_slots_where_no_gpu_is_seen(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, HostSpec(gpus=0, nics=[], ib_ports=[])), hosts)
    plan = plan_launch(inputs(facts, ports_pairs()))
    assert [(n.nproc, n.nproc_source) for n in plan.nodes] == [
        (8, "hostfile slots (no GPU seen)")] * 3


def test_gpus_are_those_gpu_count_counted(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, NO_FABRIC), hosts)
    counted = [Result(f"gpu_count[{n}]", "gpu_count", "gpu", Status.PASS, node=n, measured=4)
               for n in NAMES]
    plan = plan_launch(inputs(facts, [*ports_pairs(), *counted]))
    assert [(n.gpus, n.nproc) for n in plan.nodes] == [(4, 4)] * 3  # not the facts' 2


def test_cluster_wide_failure_is_not_cleared_by_excluding(hosts: Path) -> None:
    facts = cluster(dict.fromkeys(NAMES, NO_FABRIC), hosts)
    results = [*ports_pairs(), result("version_consistent", Status.FAIL,
                                      message="2 NCCL versions")]
    with pytest.raises(Refused) as refused:
        plan_launch(inputs(facts, results), exclude_bad=True)
    assert refused.value.headline == "NO-GO, and excluding no node is not enough"
    assert refused.value.reasons == [
        "cluster: version_consistent (version-consistent-fail, cluster): 2 NCCL versions"]


# Printers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p5_plan(hosts: Path) -> LaunchPlan:
    facts = cluster(dict.fromkeys(NAMES, P5), hosts)
    results = [*judged(check_fabric.check_efa_count, facts, Expectations()), *ports_pairs(),
               *[result("gpudirect_nic", Status.PASS, n) for n in NAMES]]
    return plan_launch(inputs(facts, results, {"ports": ports_probe({29500: "open"})}))


ENV_WORDS = ["NCCL_SOCKET_IFNAME=ens6", "GLOO_SOCKET_IFNAME=ens6", "FI_PROVIDER=efa",
             "FI_EFA_USE_DEVICE_RDMA=1", "NCCL_DEBUG=WARN"]


def test_torchrun_one_line_per_node(p5_plan: LaunchPlan, tmp_path: Path) -> None:
    lines = [line for line in render(p5_plan, "torchrun", ["train.py", "--lr", "1e-4"], None,
                                     tmp_path) if not line.startswith("#")]
    assert [shlex.split(line) for line in lines] == [
        ["env", *ENV_WORDS, "torchrun", "--nnodes=3", "--nproc-per-node=8", f"--node-rank={i}",
         "--master-addr=198.18.0.1", "--master-port=29500", "train.py", "--lr", "1e-4"]
        for i in range(3)]
    rdzv = render(p5_plan, "torchrun", None, "job-7", tmp_path)[-1]
    assert "--rdzv-backend=c10d --rdzv-endpoint=198.18.0.1:29500 --rdzv-id=job-7" in rdzv


def test_mpirun_srun_deepspeed_fabric(p5_plan: LaunchPlan, tmp_path: Path) -> None:
    argv = mpirun_argv(p5_plan, tmp_path / "job.hostfile", ["python3", "train.py"])
    assert argv[:7] == ["mpirun", "-np", "24", "--hostfile", str(tmp_path / "job.hostfile"),
                        "--map-by", "ppr:8:node"]
    assert [argv[i + 1] for i, word in enumerate(argv) if word == "-x"] == [
        "MASTER_ADDR=198.18.0.1", "MASTER_PORT=29500", *ENV_WORDS]
    assert argv[-8:] == ["--mca", "btl_tcp_if_include", "ens6", "--mca", "oob_tcp_if_include",
                         "ens6", "python3", "train.py"]
    srun = srun_argv(p5_plan, ["train.py"])
    assert srun[srun.index("srun"):srun.index("torchrun")] == [
        "srun", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1", "--nodelist=node-[1-3]",
        "--kill-on-bad-exit=1", "--cpu-bind=none", "--gpus-per-node=8"]
    assert render(p5_plan, "srun", None, None, tmp_path)[-1].endswith(
        '--rdzv-id="$SLURM_JOB_ID" train.py')
    deepspeed = render(p5_plan, "deepspeed", None, None, tmp_path)[-1]
    assert deepspeed == (f"deepspeed --hostfile={tmp_path}/job.hostfile --master_addr=198.18.0.1"
                         " --master_port=29500 --num_nodes=3 --num_gpus=8 train.py")
    fabric = [line for line in render(p5_plan, "fabric", None, None, tmp_path)
              if line.startswith("env")]
    assert "MASTER_ADDR=198.18.0.1 MASTER_PORT=29500 NODE_RANK=2 WORLD_SIZE=24" in fabric[2]
    assert "fabric run --accelerator=cuda --devices=8 --num-nodes=3 --node-rank=2" in fabric[2]


def test_env_file_sources_in_a_shell(p5_plan: LaunchPlan, tmp_path: Path) -> None:
    path = tmp_path / "nccl.env"
    path.write_text(env_file_text(p5_plan))
    shown = subprocess.run(["bash", "-c", f"set -a; . {shlex.quote(str(path))}; env"],
                           capture_output=True, text=True, check=True, env={}).stdout
    assert {line for line in shown.splitlines() if "=" in line} >= set(ENV_WORDS)
    assert "# NCCL_IB_HCA left out: no InfiniBand/RoCE port in the facts (ibstat)" in (
        path.read_text())


def test_remote_text_in_a_reason_stays_a_comment(p5_plan: LaunchPlan, tmp_path: Path) -> None:
    sneaky = Setting("NCCL_IB_HCA", None, "skipped: odd\ntouch " + str(tmp_path / "pwned"))
    path = tmp_path / "nccl.env"
    path.write_text(env_file_text(dataclasses.replace(p5_plan, env=[sneaky])))
    subprocess.run(["bash", "-c", f". {shlex.quote(str(path))}"], check=True, env={})
    assert not (tmp_path / "pwned").exists()
    assert path.read_text().splitlines()[1] == (
        f"# NCCL_IB_HCA left out: skipped: odd touch {tmp_path}/pwned")


def test_guess_launcher() -> None:
    assert guess_launcher([Node("a", 8)], ["preflight", "run", "--slurm"], {}) == "srun"
    assert guess_launcher([Node("a")], [], {"SLURM_JOB_ID": "7"}) == "srun"
    assert guess_launcher([Node("a", 8)], [], {}) == "mpirun"
    assert guess_launcher([Node("a")], [], {}) == "torchrun"


# The command --------------------------------------------------------------------------------


def run_dir(tmp_path: Path, hosts: Path, results: list[Result]) -> Path:
    """A run directory as `preflight run` leaves it: facts.json and results.json with the
    launch block (null on NO-GO), valid against the schema."""
    folder = tmp_path / "run"
    facts = {n: outcome(n, node_facts(NO_FABRIC, hosts, n)) for n in NAMES}
    write_facts_json(folder, facts, dict.fromkeys(NAMES, 2))
    record = RunRecord("0", [], "", hosts=NAMES, results=results)
    cluster = cluster_of({n: o.facts or {} for n, o in facts.items()}, dict.fromkeys(NAMES, 2))
    record.launch = launch_block(cluster, dict.fromkeys(NAMES), record, {})
    assert (record.launch is None) == (not record.go)
    validate_results(json.loads(json.dumps(record.to_dict(), default=str)))
    write_json(folder / "results.json", record.to_dict())
    return folder


def test_launch_command_prints_and_writes_beside_the_run(
        hosts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = run_dir(tmp_path, hosts, ports_pairs())
    assert main(["launch", str(folder), "--launcher", "mpirun", "--script", "hostname"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"mpirun -np 6 --hostfile {folder}/job.hostfile")
    assert (folder / "job.hostfile").read_text() == "node-1 slots=2\nnode-2 slots=2\n" \
                                                     "node-3 slots=2\n"
    assert "NCCL_SOCKET_IFNAME=ens6\n" in (folder / "nccl.env").read_text()
    assert main(["launch", str(folder), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["launch"]["master_addr"] == "198.18.0.1"


def test_launch_refuses_a_no_go_run_naming_what_stands_in_the_way(
        hosts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = [*ports_pairs(), result("gpu_count", Status.FAIL, "node-2",
                                      message="node-2: 7 GPUs visible, expected 8")]
    folder = run_dir(tmp_path, hosts, results)
    assert main(["launch", str(folder)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["preflight launch: refused: NO-GO: these findings stand in the way",
                       "  node-2: gpu_count (gpu-count-fail, nodes): node-2: 7 GPUs "
                       "visible, expected 8"]
    assert not (folder / "nccl.env").exists()
    assert main(["launch", str(folder), "--exclude-bad"]) == 0
    assert "--nnodes=2" in capsys.readouterr().out
    assert main(["launch", str(tmp_path / "nowhere")]) == 2
    assert "not a preflight run directory" in capsys.readouterr().err
