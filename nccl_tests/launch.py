"""Launch one nccl-tests job across nodes from this machine, through the one launcher
module (preflight.collective.launch): Open MPI's mpirun with a hostfile from the inventory,
or srun inside a Slurm allocation, with the user's --mpirun-args / --srun-args.

The launcher runs here, in its own process group, under a deadline (SIGTERM, then
SIGKILL); mpirun also gets its own --timeout, srun its --time.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from preflight.collective.launch import LocalResult, mpirun_argv, run_local, write_hostfile
from preflight.collective.settings import LaunchSettings
from preflight.inventory import Node
from preflight.srun import srun_argv
from preflight.transport.base import CommandResult

LAUNCH_SLACK_S = 30.0  # starting daemons over ssh, and tearing them down


def nccl_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """The user's NCCL settings travel with the job (mpirun -x)."""
    return sorted(name for name in (os.environ if env is None else env)
                  if name.startswith("NCCL_"))


def launch(settings: LaunchSettings, launcher: str, nodes: Sequence[Node],
           perf: Sequence[str], job_timeout_s: float) -> CommandResult:
    """Run perf on every node (one process each) and wait, at most job_timeout_s + slack."""
    deadline = job_timeout_s + LAUNCH_SLACK_S
    started = time.monotonic()
    if launcher == "srun":
        argv = srun_argv([n.name for n in nodes], perf, timeout_s=job_timeout_s,
                         kill_on_bad_exit=True, extra=settings.srun_args)
        return _as_command_result(argv, run_local(argv, deadline), started)
    with tempfile.TemporaryDirectory(prefix="preflight-nccl-") as folder:
        hostfile = write_hostfile(Path(folder) / "hostfile", nodes)
        argv = mpirun_argv(settings, hostfile, perf, np=len(nodes), timeout_s=job_timeout_s,
                           export=nccl_variables())
        return _as_command_result(argv, run_local(argv, deadline), started)


def _as_command_result(argv: Sequence[str], local: LocalResult,
                       started: float) -> CommandResult:
    if local.error is not None:  # the launcher itself could not start
        return CommandResult("launcher", tuple(argv), 127, b"", local.error.encode(),
                             time.monotonic() - started)
    return CommandResult("launcher", tuple(argv), local.rc, local.stdout.encode(),
                         local.stderr.encode(), time.monotonic() - started, local.timed_out)
