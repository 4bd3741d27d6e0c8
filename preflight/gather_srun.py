"""Gather through one `srun` step instead of one SSH session per node.

For large allocations (beyond a few thousand nodes, SSH fan-out from one head is the
bottleneck): Slurm starts the probe on every node at once, one task per node, and each
task's JSON comes back on its own labelled line of srun's stdout. Tasks are matched to
nodes by SLURMD_NODENAME, which slurmd sets for every task.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence

from preflight.gather import PROBE_SOURCE, NodeError, NodeOutcome, ProbeOptions, interpret
from preflight.transport.base import CommandResult


def srun_argv(names: Sequence[str], options: ProbeOptions, remote_python: str,
              timeout: float) -> list[str]:
    return ["srun", f"--nodes={len(names)}", "--ntasks-per-node=1", f"--ntasks={len(names)}",
            f"--nodelist={','.join(names)}", "--label", "--kill-on-bad-exit=0",
            f"--time={max(1, int(timeout // 60) + 1)}",
            remote_python, "-S", "-c", PROBE_SOURCE.decode(), options.argument()]


def gather_via_srun(
    names: Sequence[str], options: ProbeOptions, *, remote_python: str = "python3",
    timeout: float = 120.0,
) -> dict[str, NodeOutcome]:
    argv = srun_argv(names, options, remote_python, timeout)
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return _all_failed(names, "srun-missing", "srun not found: not inside a Slurm cluster?")
    except subprocess.TimeoutExpired:
        return _all_failed(names, "probe-timeout", f"srun did not finish within {timeout:g} s")
    received_at = time.time()
    outcomes = _by_node(proc.stdout.decode("utf-8", errors="replace"), remote_python)
    elapsed = time.monotonic() - started
    missing = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
    reason = missing[-1] if missing else f"srun exit {proc.returncode}"
    settled = {}
    for name in names:
        outcome = outcomes.get(name) or NodeOutcome(
            name, error=NodeError("no-answer", f"no probe output from srun for {name}: {reason}"))
        outcome.gather_s = elapsed
        if outcome.facts and isinstance(outcome.facts.get("time"), (int, float)):
            outcome.clock_offset_s = round(float(outcome.facts["time"]) - received_at, 3)
        settled[name] = outcome
    return settled


def _by_node(stdout: str, remote_python: str) -> dict[str, NodeOutcome]:
    """srun --label prefixes each line with 'TASK: '; the probe prints one JSON line."""
    found: dict[str, NodeOutcome] = {}
    for line in stdout.splitlines():
        _, sep, payload = line.partition(": ")
        if not sep or not payload.startswith("{"):
            continue
        result = CommandResult("?", ("probe",), 0, payload.encode(), b"", 0.0)
        try:
            name = json.loads(payload).get("slurm_node")
        except ValueError:
            continue
        if isinstance(name, str) and name:
            outcome = interpret(name, result, remote_python)
            found[name] = outcome
    return found


def _all_failed(names: Sequence[str], kind: str, detail: str) -> dict[str, NodeOutcome]:
    return {name: NodeOutcome(name, error=NodeError(kind, detail)) for name in names}
