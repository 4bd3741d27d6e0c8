"""One nccl-tests job across the nodes (per collective), through the chosen launcher.

The job takes the nodes whose single-node run of that collective finished (a node where
the binary is missing or the run hung would only hang the job too; its own check names
it) and uses the smallest GPU count among them with -g, one process per node.

The measurement: {"settings", "launcher", "runs": {collective: record}}, record one of
{"skipped": why, "left_out"}, {"error": why, "left_out"} or a command.run_record() plus
"nodes", "gpus_per_node" and "left_out" (node -> why it was not in the job).
"""

from __future__ import annotations

import re
from typing import Any

from preflight.runctx import RunContext

from .command import perf_argv, run_record
from .launch import launch
from .settings import BINARIES, NcclTestsSettings

_LAUNCHER_TIME_LIMIT = re.compile(
    r"time limit for job execution has been reached|DUE TO TIME LIMIT")


def measure_multi_node(ctx: RunContext, settings: NcclTestsSettings,
                       single: dict[str, Any]) -> dict[str, Any]:
    entries: dict[str, Any] = single.get("nodes", {})
    runs = {c: _one_collective(ctx, settings, entries, c) for c in settings.collectives}
    return {"settings": settings.to_dict(), "launcher": settings.launcher, "runs": runs}


def participants(entries: dict[str, Any], collective: str) -> tuple[list[str], dict[str, str]]:
    members: list[str] = []
    left_out: dict[str, str] = {}
    for name, entry in entries.items():
        run = (entry.get("runs") or {}).get(collective)
        if entry.get("error") or entry.get("skipped"):
            left_out[name] = entry.get("error") or entry.get("skipped")
        elif run is None or run.get("missing"):
            left_out[name] = f"{BINARIES[collective]} not found"
        elif run.get("timed_out"):
            left_out[name] = "its single-node run did not finish"
        else:
            members.append(name)
    return members, left_out


def common_binary(found: dict[str, dict[str, Any]], binary: str) -> str:
    """The path every node has the binary at; its bare name when each finds it on PATH."""
    paths = {name: f["paths"][binary] for name, f in found.items()}
    if len(set(paths.values())) == 1:
        return str(next(iter(paths.values())))
    if all(f["via"].get(binary) == "PATH" for f in found.values()):
        return binary
    listed = ", ".join(f"{name} {path}" for name, path in sorted(paths.items())[:4])
    raise ValueError(f"{binary} is at different paths on the nodes ({listed}): install it "
                     "at one path, or on PATH, everywhere")


def _one_collective(ctx: RunContext, settings: NcclTestsSettings, entries: dict[str, Any],
                    collective: str) -> dict[str, Any]:
    members, left_out = participants(entries, collective)
    if len(members) < 2:
        return {"skipped": f"{len(members)} node(s) could run {BINARIES[collective]}: "
                "a multi-node run needs 2", "left_out": left_out}
    found = {name: entries[name]["found"] for name in members}
    try:
        program = common_binary(found, BINARIES[collective])
    except ValueError as exc:
        return {"error": str(exc), "left_out": left_out}
    gpus = min(int(entries[name]["gpus"]) for name in members)
    with_flag = all(f.get("timeout_flag") for f in found.values())
    perf = perf_argv(program, gpus, settings.max_bytes,
                     settings.per_op_timeout_s if with_flag else None)
    nodes = [node for node in ctx.nodes if node.name in members]
    result = launch(settings.launch, settings.launcher, nodes, perf, settings.timeout_s)
    record = run_record(result, settings.timeout_s)
    said = f"{record['output']}\n{record['stderr']}"
    record["timed_out"] = bool(result.timed_out or _LAUNCHER_TIME_LIMIT.search(said))
    return {**record, "launcher": settings.launcher, "nodes": members,
            "gpus_per_node": gpus, "left_out": left_out}
