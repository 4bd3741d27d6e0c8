"""srun, the one way preflight starts a Slurm step: its argv, and reading `--label` output.

Real srun labels chunks, not lines: slurmstepd forwards a task's output in pieces of at
most 1,024 bytes, and srun prints each piece on its own line behind the task's label, so
a long line arrives split, with a newline srun added after every piece, and interleaved
with the other tasks' pieces. What a task prints through srun is therefore read per task
(by label) and must not depend on its own newlines: JSON objects, or short marker lines.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from preflight.inventory import compress_hostlist

_LABEL = re.compile(r"^ *(\d+): ")


def srun_argv(names: Sequence[str], command: Sequence[str], *, timeout_s: float | None,
              label: bool = False, kill_on_bad_exit: bool = False,
              extra: Sequence[str] = ()) -> list[str]:
    """One task on each of `names`, under Slurm's own time limit (whole minutes; None: the
    allocation's, for a line printed for the user's job)."""
    n = len(names)
    argv = ["srun", f"--nodes={n}", f"--ntasks={n}", "--ntasks-per-node=1",
            f"--nodelist={compress_hostlist(list(names))}",
            f"--kill-on-bad-exit={int(kill_on_bad_exit)}",
            "--cpu-bind=none"]
    if timeout_s is not None:
        argv.append(f"--time={max(1, math.ceil(timeout_s / 60))}")
    if label:
        argv.append("--label")
    return [*argv, *extra, *command]


def by_task(output: str) -> dict[int, list[str]]:
    """`srun --label` output -> each task's pieces, in the order the task printed them.
    Lines without a label (srun's own) are left out."""
    tasks: dict[int, list[str]] = {}
    for line in output.split("\n"):
        match = _LABEL.match(line)
        if match:
            tasks.setdefault(int(match.group(1)), []).append(line[match.end():])
    return tasks


def json_objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects in `text` one after another, whatever lies between them."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    start = text.find("{")
    while start >= 0:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", end)
    return found
