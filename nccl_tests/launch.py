"""Launch one nccl-tests job across nodes from this machine: Open MPI's mpirun with a
hostfile generated from the inventory, or srun inside a Slurm allocation.

The launcher runs here, in its own process group, under a deadline: at the deadline the
group gets SIGTERM (mpirun then stops its daemons and ranks on the nodes), and SIGKILL
after a grace period. mpirun also gets its own --timeout, srun its --time.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from preflight.inventory import Node
from preflight.srun import srun_argv
from preflight.transport.base import CommandResult

TERM_GRACE_S = 10.0
LAUNCH_SLACK_S = 30.0  # starting daemons over ssh, and tearing them down


def hostfile_text(nodes: Sequence[Node]) -> str:
    """One process per node (it drives all the node's GPUs with -g)."""
    return "".join(f"{n.user + '@' if n.user else ''}{n.name} slots=1\n" for n in nodes)


def mpirun_argv(hostfile: Path, count: int, job_timeout_s: float, perf: Sequence[str], *,
                ssh_config: str | None = None, known_hosts: str | None = None,
                env: Mapping[str, str] | None = None) -> list[str]:
    rsh = []
    if ssh_config:
        rsh.append(f"-F {ssh_config}")
    if known_hosts:
        rsh.append(f"-o UserKnownHostsFile={known_hosts}")
    argv = ["mpirun", "-np", str(count), "-N", "1", "--hostfile", str(hostfile),
            "--timeout", str(math.ceil(job_timeout_s))]
    if rsh:
        argv += ["--mca", "plm_rsh_args", " ".join(rsh)]
    for name in sorted(env or os.environ):
        if name.startswith("NCCL_"):  # the user's NCCL settings travel with the job
            argv += ["-x", name]
    return [*argv, *perf]


def launcher_env(launcher: str) -> dict[str, str]:
    env = dict(os.environ)
    if launcher == "mpirun" and os.geteuid() == 0:
        # Open MPI refuses root unless told twice; preflight already runs as root here.
        env |= {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return env


def launch(launcher: str, nodes: Sequence[Node], perf: Sequence[str], job_timeout_s: float, *,
           ssh_config: str | None = None, known_hosts: str | None = None) -> CommandResult:
    """Run perf on every node (one process each) and wait, at most job_timeout_s + slack."""
    env = launcher_env(launcher)
    deadline = job_timeout_s + LAUNCH_SLACK_S
    if launcher == "srun":
        argv = srun_argv([n.name for n in nodes], perf, timeout_s=job_timeout_s,
                         kill_on_bad_exit=True)
        return run_local(argv, deadline, env)
    with tempfile.TemporaryDirectory(prefix="preflight-nccl-") as folder:
        hostfile = Path(folder) / "hostfile"
        hostfile.write_text(hostfile_text(nodes))
        argv = mpirun_argv(hostfile, len(nodes), job_timeout_s, perf, ssh_config=ssh_config,
                           known_hosts=known_hosts, env=env)
        return run_local(argv, deadline, env)


def run_local(argv: Sequence[str], timeout: float,
              env: Mapping[str, str] | None = None) -> CommandResult:
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env=dict(env) if env is not None else None)
    except OSError as exc:
        return CommandResult("launcher", tuple(argv), 127, b"", f"{argv[0]}: {exc}".encode(),
                             time.monotonic() - started)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        out, err = _stop_group(proc)
        timed_out = True
    rc = None if timed_out else proc.returncode
    return CommandResult("launcher", tuple(argv), rc, out, err, time.monotonic() - started,
                         timed_out)


def _stop_group(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """SIGTERM the launcher's group so it can stop its remote ranks, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        return proc.communicate(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:  # a child left the group and holds the pipes open
        proc.kill()
        return b"", b"launcher killed; a child of it still holds its output open"
