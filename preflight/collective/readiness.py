"""Can the chosen launcher start a task on every node? `mpirun -N 1 --hostfile H hostname`
or `srun hostname`, and for the nodes that did not answer, the same on each node alone: a
node that answers alone but not in the full job points at the launch tree (ssh mesh)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from preflight.collective.launch import (
    LocalResult,
    mpirun_argv,
    mpirun_one_argv,
    run_local,
    write_hostfile,
)
from preflight.collective.settings import LaunchSettings
from preflight.facts import ClusterFacts
from preflight.fanout import fan_out
from preflight.measure.base import reachable
from preflight.runctx import RunContext
from preflight.srun import srun_argv

ALONE_FANOUT = 8  # each single-node launch is a local mpirun/srun process
TAIL_LINES = 6
_WARNING = re.compile(r"\bwarning\b", re.I)
_CAUSE = re.compile(r"error|denied|refused|not found|no such|timed out|could not|unable|fail",
                    re.I)


def hostname_aliases(cluster: ClusterFacts, names: Sequence[str]) -> dict[str, str]:
    """Every spelling of a node that `hostname` may print → the node's name."""
    aliases: dict[str, str] = {}
    for name in names:
        reported = cluster.node(name).get("hostname")
        for alias in (name, reported):
            if isinstance(alias, str) and alias:
                aliases.setdefault(alias, name)
                aliases.setdefault(alias.split(".")[0], name)
    return aliases


def answered(result: LocalResult, aliases: dict[str, str]) -> set[str]:
    return {aliases[line.strip()] for line in result.stdout.splitlines()
            if line.strip() in aliases}


def launcher_readiness(ctx: RunContext, settings: LaunchSettings) -> dict[str, Any]:
    names = reachable(ctx)
    timeout = ctx.expect.command_timeout_s
    aliases = hostname_aliases(ClusterFacts(ctx.outcomes()), names)
    whole_argv, one_argv = _argvs(ctx, settings, names, timeout)
    whole = run_local(whole_argv, timeout)
    seen = answered(whole, aliases)
    missing = [name for name in names if name not in seen]
    alone = fan_out(missing, lambda name: _run_alone(one_argv(name), timeout),
                    max_workers=ALONE_FANOUT, deadline_s=timeout * 2 + 30)
    records = {name: alone_record(name, outcome, aliases) for name, outcome in alone.items()}
    nodes = settle(seen, records)
    return {"launcher": settings.kind, "argv": whole_argv, "rc": whole.rc,
            "timed_out": whole.timed_out, "error": whole.error,
            "stderr_tail": _tail(whole.stderr), "nodes": nodes}


def _run_alone(argv: list[str], timeout: float) -> LocalResult:
    """Concurrent mpiruns here race creating their session directory: one TMPDIR each."""
    with tempfile.TemporaryDirectory(prefix="preflight-launch-") as tmpdir:
        return run_local(argv, timeout, {"TMPDIR": tmpdir})


def _argvs(ctx: RunContext, settings: LaunchSettings, names: list[str], timeout: float
           ) -> tuple[list[str], Callable[[str], list[str]]]:
    if settings.kind == "srun":
        return (srun_argv(names, ["hostname"], timeout_s=timeout, extra=settings.srun_args),
                lambda name: srun_argv([name], ["hostname"], timeout_s=timeout,
                                       extra=settings.srun_args))
    nodes = {n.name: n for n in ctx.nodes if n.name in names}
    hostfile = write_hostfile(ctx.run_dir / "launch" / "hostfile", list(nodes.values()))
    return (mpirun_argv(settings, hostfile, ["hostname"]),
            lambda name: mpirun_one_argv(settings, nodes[name], ["hostname"]))


def settle(seen: set[str], alone: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per node: answered the full launch, or what its own launch said. One node that
    cannot start aborts the whole launch, so the nodes that start alone are fine then."""
    nodes: dict[str, dict[str, Any]] = {name: {"answered": True} for name in sorted(seen)}
    broken = sorted(name for name, record in alone.items() if not record["alone"])
    for name, record in alone.items():
        nodes[name] = {**record, "answered": True, "blocked_by": broken} \
            if broken and record["alone"] else record
    return nodes


def alone_record(name: str, outcome: LocalResult | Exception,
                  aliases: dict[str, str]) -> dict[str, Any]:
    if isinstance(outcome, Exception):
        return {"answered": False, "alone": False, "detail": str(outcome)}
    if name in answered(outcome, aliases):
        return {"answered": False, "alone": True, "detail": ""}
    detail = outcome.error or _cause(outcome.stderr) or (
        "timed out" if outcome.timed_out else f"exit {outcome.rc}, no output")
    return {"answered": False, "alone": False, "detail": detail}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().strip("-*")]


def _tail(text: str) -> str:
    return " | ".join(_lines(text)[-TAIL_LINES:])[-800:]


def _cause(text: str) -> str:
    """The launcher's first line that says what went wrong (its help text comes after),
    passing over its warnings (mpirun's `plm:rsh: Warning: setpgid(...) failed ...
    Permission denied` when a remote child exits fast is noise, not the cause)."""
    lines = _lines(text)
    causes = [line for line in lines if _CAUSE.search(line)]
    errors = [line for line in causes if not _WARNING.search(line)]
    return next(iter(errors or causes), " | ".join(lines[:3]))[:400]
