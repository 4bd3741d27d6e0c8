"""How far every rank got, from the JSON lines the node script prints, and who is to blame.

Pure functions: the head feeds them what each node printed, tests feed them recorded lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from preflight.srun import by_task, json_objects

STEPS = ("launch", "import", "store", "init", "barrier", "correctness", "sweep", "done")
RENDEZVOUS_STEPS = ("launch", "import", "store", "init")


@dataclass
class NodeRun:
    """What one node's launch left behind (for srun/mpirun: that node's share of it)."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""
    rc: int | None = None
    timed_out: bool = False  # killed at the head's overall deadline
    error: str | None = None  # the launch itself failed (ssh, srun, mpirun)


@dataclass
class RankProgress:
    rank: int
    node: str
    reached: str | None = None  # the last step that completed
    failure: dict[str, Any] | None = None  # {"step", "error", "timed_out"}
    correctness: dict[str, Any] | None = None
    sweep: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # step -> its time on this rank

    @property
    def done(self) -> bool:
        return self.reached == "done"

    def stopped_at(self, sizes: int) -> str:
        if self.failure is not None:
            return str(self.failure["step"])
        if self.reached is None:
            return "import"
        if self.reached == "sweep" and len(self.sweep) < sizes:
            return "sweep"
        return STEPS[min(STEPS.index(self.reached) + 1, len(STEPS) - 1)]

    def to_dict(self, sizes: int, culprit: bool) -> dict[str, Any]:
        return {"node": self.node, "reached": self.reached, "stopped_at": self.stopped_at(sizes),
                "done": self.done, "failure": self.failure, "culprit": culprit,
                "died": not self.done and self.failure is None,
                "correctness": self.correctness}


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines (launchers may add their own lines)."""
    found = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and "step" in record:
            found.append(record)
    return found


def srun_lines(text: str) -> list[dict[str, Any]]:
    """The same from `srun --label` output, whose long lines arrive split (preflight.srun)."""
    return [record for pieces in by_task(text).values()
            for record in json_objects("".join(pieces)) if "step" in record]


def split_by_node(lines: Iterable[dict[str, Any]], names: Sequence[str]) -> dict[str, NodeRun]:
    """One launcher's combined output (srun, mpirun) → each node's share."""
    runs = {name: NodeRun() for name in names}
    for record in lines:
        node = runs.get(str(record.get("node")))
        if node is not None:
            node.lines.append(record)
    return runs


def rank_progress(rank_node: Mapping[int, str], runs: Mapping[str, NodeRun]
                  ) -> dict[int, RankProgress]:
    ranks = {rank: RankProgress(rank, node) for rank, node in rank_node.items()}
    for run in runs.values():
        for record in run.lines:
            progress = ranks.get(record.get("rank", -1))
            if progress is not None:
                _apply(progress, record)
    for progress in ranks.values():  # silent because its launcher never started it
        launched = runs.get(progress.node)
        if launched is not None and launched.error and progress.reached is None \
                and progress.failure is None:
            progress.failure = {"step": "launch", "error": launched.error, "timed_out": False}
    return ranks


def _apply(progress: RankProgress, record: dict[str, Any]) -> None:
    step = str(record.get("step"))
    if not record.get("ok"):
        progress.failure = {"step": step, "error": record.get("error"),
                            "timed_out": bool(record.get("timed_out"))}
        if step == "sweep":
            progress.failure["size_bytes"] = record.get("size_bytes")
        return
    progress.reached = step
    if isinstance(record.get("s"), int | float):
        progress.seconds[step] = progress.seconds.get(step, 0.0) + float(record["s"])
    if step == "correctness":
        progress.correctness = {k: record.get(k) for k in ("sum", "expected", "wrong")}
    elif step == "sweep":
        progress.sweep.append(record)


def culprits(ranks: Mapping[int, RankProgress], sizes: int) -> set[int]:
    """Ranks that failed first. A rank that ended without a word (killed, crashed) comes
    before every rank that reported an error: those errors are the others noticing."""
    unfinished = [p for p in ranks.values() if not p.done]
    died = {p.rank for p in unfinished if p.failure is None}
    if died or not unfinished:
        return died
    earliest = min(STEPS.index(p.stopped_at(sizes)) for p in unfinished)
    return {p.rank for p in unfinished if STEPS.index(p.stopped_at(sizes)) == earliest}


def step_seconds(ranks: Mapping[int, RankProgress]) -> dict[str, float]:
    """Per step, the slowest rank's seconds (the sweep's sizes summed): where the
    collective probe's time went."""
    slowest: dict[str, float] = {}
    for progress in ranks.values():
        for step, seconds in progress.seconds.items():
            slowest[step] = round(max(slowest.get(step, 0.0), seconds), 3)
    return {step: slowest[step] for step in STEPS if step in slowest}


def sweep_table(ranks: Mapping[int, RankProgress], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Per size, the slowest rank's time (a collective is as fast as its slowest rank);
    only sizes every rank finished."""
    n = len(ranks)
    rows = []
    for size in sizes:
        times = [r["time_us"] for p in ranks.values() for r in p.sweep
                 if r.get("size_bytes") == size]
        if n == 0 or len(times) < n:
            continue
        slowest = max(times)
        algbw = size / (slowest / 1e6) / 1e9 if slowest > 0 else 0.0
        rows.append({"size_bytes": size, "time_us": slowest, "algbw_gbps": round(algbw, 6),
                     "busbw_gbps": round(algbw * 2 * (n - 1) / n, 6)})
    return rows
