"""Single-node nccl-tests on every node at once: find the binaries, then one sweep per
collective with all of the node's GPUs (-g N), each under a deadline.

The measurement: {"settings": ..., "nodes": {node: entry}}, entry one of
{"error": why}, {"skipped": why}, or {"gpus", "found", "runs": {collective: run record}}
where a run record is command.run_record() or {"missing": true}.
"""

from __future__ import annotations

from typing import Any

from preflight.facts import ClusterFacts, NodeFacts
from preflight.measure.base import failure_text, per_node, reachable
from preflight.runctx import RunContext

from .command import perf_argv, run_record
from .find import FIND_TIMEOUT_S, find_binaries
from .settings import BINARIES, NcclTestsSettings

SLACK_S = 30.0  # on top of the runs' own deadlines, for the fan-out as a whole


def measure_single_node(ctx: RunContext, settings: NcclTestsSettings) -> dict[str, Any]:
    cluster = ClusterFacts(ctx.outcomes())
    names = reachable(ctx)
    per_run = settings.timeout_s + 10
    deadline = FIND_TIMEOUT_S + per_run * len(settings.collectives) + SLACK_S
    outcomes = per_node(ctx, names, lambda n: _one_node(ctx, settings, cluster.node(n)),
                        deadline_s=deadline)
    entries = {name: ({"error": failure_text(outcome)} if isinstance(outcome, Exception)
                      else outcome) for name, outcome in outcomes.items()}
    return {"settings": settings.to_dict(), "nodes": entries}


def gpu_count(node: NodeFacts) -> int | None:
    """GPUs the node shows (None: no nvidia-smi); raises Unavailable when it cannot tell."""
    gpus = node.gpus
    return None if gpus is None else len(gpus)


def _one_node(ctx: RunContext, settings: NcclTestsSettings, node: NodeFacts) -> dict[str, Any]:
    gpus = gpu_count(node)
    if not gpus:
        return {"skipped": f"{node.name}: no GPUs " + (
            "(nvidia-smi not found)" if gpus is None else "(nvidia-smi lists none)")}
    transport = ctx.connections.get(node.name)
    found = find_binaries(transport, settings.home, settings.binaries)
    runs: dict[str, Any] = {}
    for collective in settings.collectives:
        path = found.paths.get(BINARIES[collective])
        if path is None:
            runs[collective] = {"missing": True}
            continue
        per_op = settings.per_op_timeout_s if found.timeout_flag else None
        argv = perf_argv(path, gpus, settings.max_bytes, per_op)
        result = transport.run(argv, timeout=settings.timeout_s)
        runs[collective] = run_record(result, settings.timeout_s)
    return {"gpus": gpus, "found": found.to_dict(), "runs": runs}
