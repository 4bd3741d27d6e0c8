"""A LaunchPlan as each launcher's command lines, nccl.env and the hostfile.

Every value is quoted with shlex: what the lines say is what a shell will run.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from preflight import srun
from preflight.golive.plan import LaunchNode, LaunchPlan
from preflight.inventory import compress_hostlist

LAUNCHERS = ("torchrun", "mpirun", "srun", "deepspeed", "fabric")
ENV_FILE = "nccl.env"
HOSTFILE = "job.hostfile"
DEFAULT_SCRIPT = ("train.py",)


def one_line(text: str) -> str:
    """Remote text (a check's message) inside a comment: a newline would end the comment
    and make the rest a command of whoever sources the file."""
    return " ".join(text.split())


def env_file_text(plan: LaunchPlan) -> str:
    """Shell-sourceable (`set -a; . nccl.env`): each variable after a comment saying why."""
    lines = ["# written by `preflight launch`: the NCCL settings this run proved"]
    for setting in plan.env:
        why = one_line(setting.why)
        if setting.value is None:
            lines.append(f"# {setting.name} left out: {why}")
        else:
            lines += [f"# {why}", f"{setting.name}={shlex.quote(setting.value)}"]
    return "\n".join(lines) + "\n"


def _env_words(plan: LaunchPlan, extra: dict[str, str] | None = None) -> list[str]:
    return [f"{k}={v}" for k, v in {**(extra or {}), **plan.exported()}.items()]


def _rdzv(plan: LaunchPlan, rdzv_id: str) -> list[str]:
    return ["--rdzv-backend=c10d", f"--rdzv-endpoint={plan.master.address}:{plan.master_port}",
            f"--rdzv-id={rdzv_id}"]


def torchrun_argv(plan: LaunchPlan, node: LaunchNode, rank: int, script: Sequence[str],
                  rdzv_id: str | None) -> list[str]:
    where = _rdzv(plan, rdzv_id) if rdzv_id else [
        f"--node-rank={rank}", f"--master-addr={plan.master.address}",
        f"--master-port={plan.master_port}"]
    return ["env", *_env_words(plan), "torchrun", f"--nnodes={len(plan.nodes)}",
            f"--nproc-per-node={node.nproc}", *where, *script]


def torchrun_lines(plan: LaunchPlan, script: Sequence[str], rdzv_id: str | None,
                   folder: Path) -> list[str]:
    ranks = "by c10d rendezvous" if rdzv_id else "in the order below"
    lines = [f"# one line per node, run on that node (node rank {ranks}):"]
    for rank, node in enumerate(plan.nodes):
        lines += [f"# {node.name}: {node.nproc} processes ({node.nproc_source})",
                  shlex.join(torchrun_argv(plan, node, rank, script, rdzv_id))]
    return lines


def mpirun_argv(plan: LaunchPlan, hostfile: Path, script: Sequence[str]) -> list[str]:
    exports = _env_words(plan, {"MASTER_ADDR": plan.master.address,
                                "MASTER_PORT": str(plan.master_port)})
    argv = ["mpirun", "-np", str(plan.world_size), "--hostfile", str(hostfile)]
    if plan.nproc_per_node:
        argv += ["--map-by", f"ppr:{plan.nproc_per_node}:node"]
    for word in exports:
        argv += ["-x", word]
    if plan.interfaces:
        names = ",".join(plan.interfaces)
        argv += ["--mca", "btl_tcp_if_include", names, "--mca", "oob_tcp_if_include", names]
    return [*argv, *script]


def mpirun_lines(plan: LaunchPlan, script: Sequence[str], rdzv_id: str | None,
                 folder: Path) -> list[str]:
    hostfile = folder / HOSTFILE
    return [f"# Open MPI, on {plan.master.name} (on the cluster interface, as mpirun's own "
            f"traffic must be), with {hostfile} copied there:",
            shlex.join(mpirun_argv(plan, hostfile, script))]


def srun_argv(plan: LaunchPlan, script: Sequence[str]) -> list[str]:
    gpus = [f"--gpus-per-node={plan.master.gpus}"] if plan.master.gpus else []
    torchrun = ["torchrun", f"--nnodes={len(plan.nodes)}",
                f"--nproc-per-node={plan.nproc_per_node or plan.master.nproc}",
                *_rdzv(plan, "$SLURM_JOB_ID"), *script]
    return ["env", *_env_words(plan), *srun.srun_argv(
        [n.name for n in plan.nodes], torchrun, timeout_s=None, kill_on_bad_exit=True,
        extra=gpus)]


def srun_lines(plan: LaunchPlan, script: Sequence[str], rdzv_id: str | None,
               folder: Path) -> list[str]:
    line = shlex.join(srun_argv(plan, script)).replace("'--rdzv-id=$SLURM_JOB_ID'",
                                                       '--rdzv-id="$SLURM_JOB_ID"')
    lines = ["# inside the allocation (sbatch script or salloc): one torchrun per node"]
    if plan.excluded:
        lines.append(f"# for a new allocation: sbatch --exclude={compress_hostlist(plan.excluded)}")
    return [*lines, line]


def deepspeed_lines(plan: LaunchPlan, script: Sequence[str], rdzv_id: str | None,
                    folder: Path) -> list[str]:
    hostfile = folder / HOSTFILE
    argv = ["deepspeed", f"--hostfile={hostfile}", f"--master_addr={plan.master.address}",
            f"--master_port={plan.master_port}", f"--num_nodes={len(plan.nodes)}"]
    if plan.nproc_per_node:
        argv.append(f"--num_gpus={plan.nproc_per_node}")
    env_file = shlex.quote(str(folder / ENV_FILE))
    return ["# deepspeed exports ./.deepspeed_env (NAME=value lines) to every node:",
            f"grep -v '^#' {env_file} > .deepspeed_env",
            shlex.join([*argv, *script])]


def fabric_argv(plan: LaunchPlan, node: LaunchNode, rank: int,
                script: Sequence[str]) -> list[str]:
    variables = {"MASTER_ADDR": plan.master.address, "MASTER_PORT": str(plan.master_port),
                 "NODE_RANK": str(rank), "WORLD_SIZE": str(plan.world_size)}
    return ["env", *_env_words(plan, variables), "fabric", "run",
            f"--accelerator={'cuda' if node.gpus else 'cpu'}", f"--devices={node.nproc}",
            f"--num-nodes={len(plan.nodes)}", f"--node-rank={rank}",
            f"--main-address={plan.master.address}", f"--main-port={plan.master_port}", *script]


def fabric_lines(plan: LaunchPlan, script: Sequence[str], rdzv_id: str | None,
                 folder: Path) -> list[str]:
    lines = ["# Lightning Fabric, on each node:"]
    for rank, node in enumerate(plan.nodes):
        lines += [f"# {node.name}", shlex.join(fabric_argv(plan, node, rank, script))]
    return lines


PRINTERS: dict[str, Callable[[LaunchPlan, Sequence[str], str | None, Path], list[str]]] = {
    "torchrun": torchrun_lines, "mpirun": mpirun_lines, "srun": srun_lines,
    "deepspeed": deepspeed_lines, "fabric": fabric_lines,
}


def header_lines(plan: LaunchPlan, folder: Path) -> list[str]:
    names = compress_hostlist([n.name for n in plan.nodes])
    lines = [f"# {len(plan.nodes)} nodes ({names}), {plan.world_size} processes; master "
             f"{plan.master.name} at {plan.master.address}:{plan.master_port}",
             f"#   port: {one_line(plan.port_why)}"]
    if not plan.port_proven:
        lines.append("#   warning: open that port to the master (or run the ports check) "
                     "before launching")
    if plan.excluded:
        lines.append(f"#   excluded: {compress_hostlist(plan.excluded)}")
    lines.append(f"# environment ({folder / ENV_FILE}):")
    for setting in plan.env:
        if setting.value is None:
            lines.append(f"#   {setting.name} left out: {one_line(setting.why)}")
        else:
            lines.append(f"#   {setting.name}={shlex.quote(setting.value)}  "
                         f"({one_line(setting.why)})")
    return lines


def render(plan: LaunchPlan, launcher: str, script: Sequence[str] | None,
           rdzv_id: str | None, folder: Path) -> list[str]:
    command = list(script or DEFAULT_SCRIPT)
    return [*header_lines(plan, folder), *PRINTERS[launcher](plan, command, rdzv_id, folder)]
