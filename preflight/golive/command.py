"""`preflight launch RUN_DIR`: print the plan, write nccl.env and the job hostfile beside it;
and the `launch` block results.json carries at the end of a run."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from preflight.collective.launch import write_hostfile
from preflight.console import make_console, write_line
from preflight.errors import UserError
from preflight.facts import ClusterFacts
from preflight.golive.plan import LaunchPlan, Refused, plan_launch
from preflight.golive.printers import ENV_FILE, HOSTFILE, env_file_text, render
from preflight.golive.runread import RunInputs, read_run
from preflight.inventory import Node
from preflight.results import RunRecord
from preflight.runctx import RunContext

REFUSED_EXIT = 1


def main_launch(run_dir: Path, launcher: str, script: Sequence[str] | None, *,
                exclude_bad: bool, rdzv: bool, as_json: bool) -> int:
    inputs = read_run(run_dir)
    try:
        plan = plan_launch(inputs, exclude_bad=exclude_bad)
    except Refused as exc:
        write_line(f"preflight launch: refused: {exc.headline}")
        for reason in exc.reasons:
            write_line(f"  {reason}")
        return REFUSED_EXIT
    write_files(plan, run_dir)
    rdzv_id = f"preflight-{run_dir.resolve().name}" if rdzv else None
    lines = render(plan, launcher, script, rdzv_id, run_dir)
    if as_json:
        write_line(json.dumps({"launch": plan.to_dict(), "launcher": launcher,
                               "lines": lines}, indent=2), err=False)
    else:
        write_line("\n".join(lines), err=False)
    return 0


def write_files(plan: LaunchPlan, run_dir: Path) -> None:
    try:
        (run_dir / ENV_FILE).write_text(env_file_text(plan))
        write_hostfile(run_dir / HOSTFILE, [Node(n.name, n.nproc, n.user) for n in plan.nodes])
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot write {ENV_FILE} and {HOSTFILE} there: "
                        f"{exc.strerror or exc}") from None


def launch_block(cluster: ClusterFacts, users: dict[str, str | None], record: RunRecord,
                 measurements: dict[str, Any]) -> dict[str, Any] | None:
    """results.json's `launch`, from what the run holds: the plan of a GO run; None on
    NO-GO or where no plan can be made (a node without an address)."""
    if not record.go:
        return None
    try:
        return plan_launch(RunInputs(cluster, users, record, measurements)).to_dict()
    except Refused:
        return None


def print_launch_line(ctx: RunContext, record: RunRecord | None) -> None:
    """The last line of a GO: the command that prints the job's launch lines."""
    if record is None or record.launch is None:
        return
    launcher = guess_launcher(ctx.nodes, ctx.command)
    make_console().print(f"Launch: preflight launch {shlex.quote(str(ctx.run_dir))} "
                         f"--launcher {launcher}", markup=False, soft_wrap=True)


def guess_launcher(nodes: Sequence[Node], command: Sequence[str],
                   environ: Mapping[str, str] | None = None) -> str:
    """srun inside Slurm, mpirun with a slots hostfile, else torchrun."""
    env = os.environ if environ is None else environ
    if "--slurm" in command or env.get("SLURM_JOB_ID"):
        return "srun"
    if any(node.slots for node in nodes):
        return "mpirun"
    return "torchrun"
