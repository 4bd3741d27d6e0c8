"""Start a command on every node the way the job will: over SSH, with srun, or with mpirun.

Every launch has a deadline and leaves nothing running: SSH-spawned commands are finished
or killed, and a local srun/mpirun gets SIGTERM (so it stops its remote tasks) then SIGKILL.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.collective.settings import LaunchSettings
from preflight.inventory import Node
from preflight.measure.base import failure_text, per_node
from preflight.runctx import RunContext

TERM_GRACE_S = 10.0
SPAWN_DEADLINE_S = 60.0


@dataclass(frozen=True)
class LocalResult:
    stdout: str
    stderr: str
    rc: int | None
    timed_out: bool
    error: str | None = None  # the launcher itself could not start


@dataclass(frozen=True)
class NodeResult:
    stdout: str
    stderr: str
    rc: int | None
    timed_out: bool
    error: str | None = None  # the node could not be reached or the command not started


def write_hostfile(path: Path, nodes: Sequence[Node]) -> Path:
    """Open MPI hostfile from the inventory, one line per node."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{_login(n)} slots={n.slots or 1}\n" for n in nodes))
    return path


def _login(node: Node) -> str:
    return f"{node.user}@{node.name}" if node.user else node.name


def _mpirun_common(settings: LaunchSettings) -> list[str]:
    # --bind-to none: a probe that forks one rank per GPU must not share one core.
    flags = ["--bind-to", "none"]
    rsh = [f"-F {settings.ssh_config}"] if settings.ssh_config else []
    if settings.known_hosts:
        rsh.append(f"-o UserKnownHostsFile={settings.known_hosts}")
    if rsh:
        flags += ["--mca", "plm_rsh_args", " ".join(rsh)]
    return [*flags, *settings.mpirun_args]


def mpirun_argv(settings: LaunchSettings, hostfile: Path, command: Sequence[str], *,
                np: int | None = None, timeout_s: float | None = None,
                export: Sequence[str] = ()) -> list[str]:
    """One process per node of the hostfile; `np` processes in all, mpirun's own
    `--timeout`, and the variables to pass on (`-x`), where asked."""
    argv = ["mpirun", *(["-np", str(np)] if np else []), "-N", "1", "--hostfile", str(hostfile)]
    if timeout_s is not None:
        argv += ["--timeout", str(math.ceil(timeout_s))]
    for name in export:
        argv += ["-x", name]
    return [*argv, *_mpirun_common(settings), *command]


def mpirun_one_argv(settings: LaunchSettings, node: Node, command: Sequence[str]) -> list[str]:
    return ["mpirun", "-N", "1", "--host", _login(node), *_mpirun_common(settings), *command]


def launcher_env(argv: Sequence[str], extra: Mapping[str, str] | None = None
                 ) -> dict[str, str]:
    env = dict(os.environ, **(extra or {}))
    if argv[0] == "mpirun" and os.geteuid() == 0:
        # Open MPI refuses root unless told twice; preflight already runs as root here.
        env |= {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return env


def run_local(argv: Sequence[str], timeout: float,
              env: Mapping[str, str] | None = None) -> LocalResult:
    """Run a launcher here in its own session; at the deadline TERM it, then KILL it."""
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env=launcher_env(argv, env))
    except OSError as exc:
        return LocalResult("", "", None, False, f"{argv[0]}: {exc.strerror or exc}")
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        out, err = _stop_group(proc)
    return LocalResult(out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                       None if timed_out else proc.returncode, timed_out)


def _stop_group(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """SIGTERM the launcher's group so it can stop its remote ranks, then SIGKILL."""
    _signal_group(proc, signal.SIGTERM)
    try:
        return proc.communicate(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
    try:
        return proc.communicate(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:  # a child left the group and holds the pipes open
        proc.kill()
        return b"", b"launcher killed; a child of it still holds its output open"


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def run_over_ssh(ctx: RunContext, names: Sequence[str],
                 command: Callable[[str], list[str]], timeout: float) -> dict[str, NodeResult]:
    """Start command(node) on every node at once, wait for all (bounded), kill leftovers."""
    spawned: dict[str, Any] = {}
    finished: set[str] = set()
    results: dict[str, NodeResult] = {}

    def start(name: str) -> Any:
        return ctx.connections.get(name).spawn(command(name), timeout=timeout)

    def finish(name: str) -> NodeResult:
        result = spawned[name].finish(timeout)
        finished.add(name)
        return NodeResult(result.text(), result.stderr.decode("utf-8", "replace"), result.rc,
                          result.timed_out)

    try:
        for name, outcome in per_node(ctx, names, start, SPAWN_DEADLINE_S).items():
            if isinstance(outcome, Exception):
                results[name] = NodeResult("", "", None, False, failure_text(outcome))
            else:
                spawned[name] = outcome
        for name, done in per_node(ctx, list(spawned), finish, timeout + 30).items():
            results[name] = done if not isinstance(done, Exception) else NodeResult(
                "", "", None, True, failure_text(done))
    finally:
        for name, process in spawned.items():
            if name not in finished:
                process.kill()
    return {name: results[name] for name in names}
