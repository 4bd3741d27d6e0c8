"""torch.distributed across the nodes: rendezvous, barrier, all_reduce check and a size sweep.

The node script runs with the env a torchrun job gets; the head collects every rank's
progress lines, names the ranks that failed first (and their nodes), and for ranks that
never reached the rendezvous asks their node whether MASTER_ADDR:MASTER_PORT answers at all.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from preflight.collective import nccl_info
from preflight.collective.launch import (
    mpirun_argv,
    run_local,
    run_over_ssh,
    write_hostfile,
)
from preflight.collective.plan import Plan, make_plan
from preflight.collective.progress import (
    NodeRun,
    culprits,
    parse_lines,
    rank_progress,
    split_by_node,
    srun_lines,
    step_seconds,
    sweep_table,
)
from preflight.collective.reach import master_reachability
from preflight.collective.settings import TorchSettings
from preflight.facts import ClusterFacts
from preflight.measure.base import cluster_address, reachable
from preflight.runctx import RunContext
from preflight.srun import srun_argv

STDERR_TAIL = 1500


def node_script() -> str:
    return resources.files("preflight.collective").joinpath("torch_node.py").read_text()


def measure_torch_allreduce(ctx: RunContext, settings: TorchSettings) -> dict[str, Any]:
    started = time.monotonic()
    names = reachable(ctx)
    addresses = {name: cluster_address(ctx, name) for name in names}
    try:
        plan = make_plan(ClusterFacts(ctx.outcomes()), names, addresses, ctx.expect,
                         settings.master_port)
    except LookupError as exc:
        return {"skipped": str(exc), "launcher": settings.launch.kind}
    payload = plan.payload({"deadlines": settings.deadlines(), "sizes": list(settings.sizes),
                            "iters": settings.iters, "warmup": settings.warmup})
    runs = launch(ctx, plan, payload, settings)
    result = assemble(plan, runs, settings)
    stuck = {r["node"] for r in result["ranks"].values()
             if r["culprit"] and r["stopped_at"] in ("store", "init")}
    if stuck:
        result["master_reachable"] = master_reachability(ctx, plan, sorted(stuck))
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


def launch(ctx: RunContext, plan: Plan, payload: dict[str, Any],
           settings: TorchSettings) -> dict[str, NodeRun]:
    names = [n.name for n in plan.nodes]
    if settings.launch.kind == "ssh":
        return _launch_ssh(ctx, names, payload, settings.total_deadline_s())
    return _launch_once(ctx, names, payload, settings)


def _launch_ssh(ctx: RunContext, names: list[str], payload: dict[str, Any],
                deadline: float) -> dict[str, NodeRun]:
    script = node_script()

    def command(name: str) -> list[str]:
        own = {**payload, "node_index": names.index(name)}
        return [ctx.remote_python, "-c", script, json.dumps(own)]

    results = run_over_ssh(ctx, names, command, deadline)
    return {name: NodeRun(parse_lines(r.stdout), r.stderr, r.rc, r.timed_out, r.error)
            for name, r in results.items()}


def _launch_once(ctx: RunContext, names: list[str], payload: dict[str, Any],
                 settings: TorchSettings) -> dict[str, NodeRun]:
    """srun or mpirun from here: one launch, every node's lines on its stdout."""
    deadline = settings.total_deadline_s()
    command = [ctx.remote_python, "-c", node_script(), json.dumps(payload)]
    srun = settings.launch.kind == "srun"
    if srun:
        argv = srun_argv(names, command, timeout_s=deadline, label=True,
                         extra=settings.launch.srun_args)
    else:
        hostfile = write_hostfile(ctx.run_dir / "launch" / "hostfile",
                                  [n for n in ctx.nodes if n.name in names])
        argv = mpirun_argv(settings.launch, hostfile, command)
    local = run_local(argv, deadline)
    lines = srun_lines(local.stdout) if srun else parse_lines(local.stdout)
    runs = split_by_node(lines, names)
    for run in runs.values():
        run.stderr, run.rc, run.timed_out, run.error = (local.stderr, local.rc,
                                                        local.timed_out, local.error)
    return runs


def assemble(plan: Plan, runs: dict[str, NodeRun], settings: TorchSettings) -> dict[str, Any]:
    sizes = len(settings.sizes)
    ranks = rank_progress(plan.rank_node(), runs)
    blamed = culprits(ranks, sizes)
    return {
        "launcher": settings.launch.kind,
        "plan": plan.summary(),
        "ok": not blamed and all(p.done for p in ranks.values()),
        "culprits": sorted(blamed),
        "ranks": {str(r): p.to_dict(sizes, r in blamed) for r, p in sorted(ranks.items())},
        "nodes": {name: node_record(run, plan.backend) for name, run in runs.items()},
        "sizes": list(settings.sizes),
        "sweep": sweep_table(ranks, settings.sizes),
        "step_seconds": step_seconds(ranks),
        "busbw_floor_gbps": settings.busbw_floor_gbps,
        "deadline_s": settings.total_deadline_s(),
    }


def node_record(run: NodeRun, backend: str) -> dict[str, Any]:
    launched = next((r for r in run.lines if r.get("step") == "launch"), None)
    record: dict[str, Any] = {
        "launched": launched is not None, "hostname": (launched or {}).get("hostname"),
        "rc": run.rc, "timed_out": run.timed_out, "error": run.error,
        "stderr_tail": _tail(run.stderr),
    }
    if backend == "nccl":
        record["nccl"] = nccl_info.picked(run.stderr)
    return record


def _tail(text: str) -> str:
    """The last lines that say something (torch's C++ frames and warnings do not)."""
    lines = [line for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith(("frame #", "<omitting", "[W"))]
    return "\n".join(lines)[-STDERR_TAIL:]

