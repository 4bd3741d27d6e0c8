"""Gather through one `srun` step instead of one SSH session per node.

For large allocations (beyond a few thousand nodes, SSH fan-out from one head is the
bottleneck): Slurm starts the gather script on every node at once, one task per node. Each
task frames its output: a begin line naming its node (SLURMD_NODENAME), the script's one
JSON line, an end line with its exit code. srun delivers that in labelled 1,024-byte
pieces (preflight.srun), so the frame is reassembled per task before it is parsed, and a
node that started nothing, stopped half-way or printed garbage is an error naming it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from preflight.collective.launch import run_local
from preflight.gather import (
    PROBE_SOURCE,
    GatherFailure,
    NodeError,
    NodeOutcome,
    ProbeOptions,
    interpret,
)
from preflight.srun import by_task, srun_argv
from preflight.transport.base import CommandResult

BEGIN = "@preflight-probe-begin "
END = "@preflight-probe-end "
# The node name first, so a task that prints nothing else is still known by its node.
FRAME = (f'echo "{BEGIN}$SLURMD_NODENAME"; "$0" -S -c "$1" "$2"; rc=$?; echo; '
         f'echo "{END}$rc"')


def gather_argv(names: Sequence[str], options: ProbeOptions, remote_python: str,
                timeout: float) -> list[str]:
    command = ["sh", "-c", FRAME, remote_python, PROBE_SOURCE.decode(), options.argument()]
    return srun_argv(names, command, timeout_s=timeout, label=True)


def gather_via_srun(
    names: Sequence[str], options: ProbeOptions, *, remote_python: str = "python3",
    timeout: float = 120.0,
) -> dict[str, NodeOutcome]:
    started = time.monotonic()
    local = run_local(gather_argv(names, options, remote_python, timeout), timeout)
    if local.error is not None:
        return _all_failed(names, GatherFailure.SRUN_MISSING,
                           f"{local.error}: not inside a Slurm cluster?")
    received_at = time.time()
    elapsed = time.monotonic() - started
    framed = read_frames(local.stdout, local.stderr, remote_python, elapsed, local.timed_out)
    why = srun_said(local.stderr, local.timed_out, local.rc, timeout)
    settled = {}
    for name in names:
        outcome = framed.get(name) or NodeOutcome(name, error=NodeError(
            GatherFailure.NO_ANSWER, f"srun started no probe on {name}: {why(name)}"))
        outcome.gather_s = elapsed
        if outcome.facts and isinstance(outcome.facts.get("time"), (int, float)):
            outcome.clock_offset_s = round(float(outcome.facts["time"]) - received_at, 3)
        settled[name] = outcome
    return settled


def read_frames(stdout: str, stderr: str, remote_python: str, elapsed: float,
                timed_out: bool = False) -> dict[str, NodeOutcome]:
    """node -> outcome, for every task whose begin line arrived."""
    errors = by_task(stderr)
    found: dict[str, NodeOutcome] = {}
    for task, pieces in by_task(stdout).items():
        begin = next((i for i, p in enumerate(pieces) if p.startswith(BEGIN)), None)
        if begin is None:
            continue
        name = pieces[begin][len(BEGIN):].strip()
        rest = pieces[begin + 1:]
        end = next((i for i, p in enumerate(rest) if p.startswith(END)), None)
        task_stderr = "\n".join(errors.get(task, [])).encode()
        if end is None:
            cause = (f"srun stopped at its {elapsed:.0f} s deadline" if timed_out
                     else "no end line: the probe was killed or its output cut short")
            found[name] = NodeOutcome(name, error=NodeError(
                GatherFailure.PROBE_TIMEOUT if timed_out else GatherFailure.PROBE_TRUNCATED,
                f"the probe's output from {name} stopped after {sum(map(len, rest))} "
                f"bytes ({cause})"))
            continue
        rc_text = rest[end][len(END):].strip()
        payload = "".join(rest[:end]).encode()  # newlines in there are srun's, not the probe's
        result = CommandResult(name, ("srun", "probe"), int(rc_text) if rc_text.isdigit()
                               else None, payload, task_stderr, elapsed)
        found[name] = interpret(name, result, remote_python)
    return found


def srun_said(stderr: str, timed_out: bool, rc: int | None,
              timeout: float) -> Callable[[str], str]:
    """Why srun started nothing on a node: its own error line naming the node, else the
    last thing it said."""
    lines = [line.strip() for line in stderr.splitlines() if line.startswith("srun: ")]

    def why(name: str) -> str:
        node = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])")
        named = [line for line in lines if node.search(line)]
        if named:
            return named[-1]
        if timed_out:
            return f"srun did not finish within {timeout:g} s"
        return lines[-1] if lines else f"srun exit {rc}"

    return why


def _all_failed(names: Sequence[str], kind: GatherFailure, detail: str) -> dict[str, NodeOutcome]:
    return {name: NodeOutcome(name, error=NodeError(kind, detail)) for name in names}
