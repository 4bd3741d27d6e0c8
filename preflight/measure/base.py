"""What every active probe shares: node-side scripts, addresses, and bounded fan-out."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from preflight.config import Expectations
from preflight.errors import PreflightError
from preflight.facts import ClusterFacts
from preflight.fanout import DeadlineExceeded, fan_out
from preflight.results import Status
from preflight.runctx import RunContext
from preflight.schedule import reach_targets
from preflight.transport.base import ConnectError, Transport

T = TypeVar("T")


class ProbeError(PreflightError):
    """A node-side probe could not run or answered garbage."""


class ProbeTimeout(ProbeError):
    """A node-side probe ran out of its deadline (a loaded node: worth one more try)."""


RETRY_FACTOR = 2.0  # a probe that ran out of time gets this much more on its one retry


# How a tool's failed connect reads in its output (strerror texts), most specific first.
CONNECT_ERRORS = (("Connection refused", "refused"), ("No route to host", "no-route"),
                  ("Network is unreachable", "no-route"), ("Connection timed out", "filtered"),
                  # perftest names no errno; an unanswered SYN was caught as filtered first
                  ("Couldn't connect to", "refused"))
CONNECT_TIMEOUT_S = 3.0  # a connect whose SYN goes unanswered this long is filtered


class ConnectFailure(ProbeError):
    """A tool's TCP connect to its server on `dst` failed: the network said no, not the tool."""

    def __init__(self, tool: str, verdict: str, port: int, dst: str) -> None:
        self.tool, self.verdict, self.port, self.dst = tool, verdict, port, dst
        super().__init__(f"{tool} could not connect: TCP {port} {verdict} into {dst}")

    def as_entry(self) -> dict[str, Any]:
        return {"tool": self.tool, "verdict": self.verdict, "port": self.port,
                "text": str(self)}


def connect_verdict(answer: Any) -> str | None:
    """How a runmany command's connect failed (`connects` given): its SYN went unanswered
    (filtered), or its output names the refusal; None when it connected."""
    if not isinstance(answer, dict):
        return None
    if answer.get("connect"):
        return str(answer["connect"])
    said = f"{answer.get('stdout', '')}\n{answer.get('stderr', '')}"
    return next((verdict for needle, verdict in CONNECT_ERRORS if needle in said), None)


def connected(answer: Any) -> bool:
    """The runmany command ran and its connect got through: its server has a client to
    finish with (else the server is stopped at once instead of waiting out its grace)."""
    return answer is not None and connect_verdict(answer) is None


def script(name: str) -> str:
    return resources.files("preflight.measure.remote").joinpath(f"{name}.py").read_text()


def script_argv(ctx: RunContext, name: str, payload: Any) -> list[str]:
    """`python -S -c SCRIPT PAYLOAD`: stdin stays free, and -S skips site (the scripts use
    the standard library only): a node's site-packages and its .pth files cost each start
    ~40 % more (58 ms against 35 ms of CPU per start on the simulated cluster's Python), and
    a probe starts one or two per node."""
    return [ctx.remote_python, "-S", "-c", script(name), json.dumps(payload)]


def run_script(ctx: RunContext, node: str, name: str, payload: Any, timeout: float) -> Any:
    """Run a node-side script (script_argv) and decode its JSON."""
    transport = ctx.connections.get(node)
    result = transport.run(script_argv(ctx, name, payload), timeout=timeout)
    if result.timed_out:
        raise ProbeTimeout(f"{node}: {name} probe timed out after {timeout:g} s")
    try:
        return json.loads(result.text())
    except ValueError:
        err = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise ProbeError(f"{node}: {name} probe failed: {err[-1] if err else result.rc}") \
            from None


def spawn_script(ctx: RunContext, node: str, name: str, payload: Any, timeout: float) -> Any:
    transport: Transport = ctx.connections.get(node)
    return transport.spawn(script_argv(ctx, name, payload), timeout=timeout)


def reachable(ctx: RunContext) -> list[str]:
    return [name for name, outcome in ctx.outcomes().items() if outcome.ok]


def lost_nodes(ctx: RunContext, names: Sequence[str]) -> dict[str, str]:
    """Which of `names` a probe of this run already lost (no new connection opens), and why."""
    return {name: failure_text(error) for name in names
            if (error := ctx.connections.failed(name)) is not None}


def lost_by(ctx: RunContext, error: Exception) -> str | None:
    """The node `error` shows lost mid-run, or None. A connection error may be a stale
    connection: the node counts as lost only once a new one fails too, and from then on
    every use of it fails at once (Connections remembers) instead of waiting out a timeout."""
    if not isinstance(error, ConnectError) or error.host not in ctx.names:
        return None
    if ctx.connections.failed(error.host) is None:
        ctx.connections.forget(error.host)
        try:
            ctx.connections.get(error.host)
        except ConnectError:
            return error.host
        return None
    return error.host


def cluster_address(ctx: RunContext, name: str) -> str | None:
    """The address the other nodes resolve `name` to; else the node's first IPv4 address."""
    return cluster_addresses(ctx, [name])[name]


def cluster_addresses(ctx: RunContext, names: Sequence[str]) -> dict[str, str | None]:
    """cluster_address for many nodes, reading the facts once (a probe's every test needs
    its target's address: per test this would cost O(N) each)."""
    cluster = ClusterFacts(ctx.outcomes())
    return {name: node_address(cluster, name, ctx.expect) for name in names}


def node_address(cluster: ClusterFacts, name: str, expect: Expectations) -> str | None:
    """What most other nodes resolve `name` to; else the first IPv4 address of the node's
    cluster interface."""
    common = cluster.resolved_address(name)
    if common is not None:
        return common
    node = cluster.node(name)
    iface = node.cluster_interface(expect)
    addresses = [a for a in (iface or {}).get("addresses") or [] if "." in a]
    return addresses[0] if addresses else None


def per_node(ctx: RunContext, names: Sequence[str], work: Callable[[str], T],
             deadline_s: float) -> dict[str, T | Exception]:
    return fan_out(names, work, max_workers=ctx.fanout, deadline_s=deadline_s)


def per_node_retried(ctx: RunContext, names: Sequence[str], work: Callable[[str, float], T],
                     budget: Callable[[str], float]) -> tuple[dict[str, T | Exception], list[str]]:
    """work(node, timeout) on every node, each with its own deadline `budget(node)` (it
    grows with the node's work); a node that ran out of time is tried once more with
    RETRY_FACTOR times as long before its error stands. Returns (outcomes, retried)."""
    def attempt(nodes: Sequence[str], factor: float) -> dict[str, T | Exception]:
        longest = max((budget(n) for n in nodes), default=0.0) * factor
        return per_node(ctx, nodes, lambda n: work(n, budget(n) * factor),
                        deadline_s=longest + 20)

    outcomes = attempt(names, 1.0)
    retried = [n for n, o in outcomes.items() if isinstance(o, ProbeTimeout | DeadlineExceeded)]
    if retried:
        outcomes.update(attempt(retried, RETRY_FACTOR))
    return outcomes, retried


def schedule_summary(ctx: RunContext, targets: dict[str, list[str]]) -> dict[str, Any]:
    """What a measurement records about its reach schedule (the pairs are its keys)."""
    counts = [len(t) for t in targets.values()]
    return {"level": ctx.expect.level, "peers": ctx.expect.sample_peers, "seed": ctx.seed,
            "pairs": sum(counts), "most_targets": max(counts, default=0)}


def reach_schedule(ctx: RunContext, names: Sequence[str],
                   ssh: bool = False) -> dict[str, list[str]]:
    """Whom each of `names` reaches in the all-to-all probes at this run's level (`ssh`:
    the SSH mesh's schedule, which leaves the master out at quick)."""
    expect = ctx.expect
    return reach_targets(names, expect.level, expect.sample_peers, ctx.seed, ssh)


def failure_text(error: Exception) -> str:
    if isinstance(error, ConnectError):
        return f"{error.kind.value}: {error.detail}"
    return str(error) or type(error).__name__


def pair_key(src: str, dst: str) -> str:
    return f"{src}|{dst}"


def reachability_matrix(title: str, nodes: list[str],
                        cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": title, "kind": "reachability", "unit": None, "nodes": nodes,
            "cells": cells}


def verdict_cells(pairs: dict[str, list[str]], ok: str = "ok") -> list[dict[str, Any]]:
    """Matrix cells from {"src|dst": [verdict, detail]}: pass where the verdict is `ok`."""
    cells = []
    for key, (verdict, _detail) in pairs.items():
        src, dst = key.split("|")
        cells.append({"src": src, "dst": dst, "value": verdict,
                      "status": Status.PASS if verdict == ok else Status.FAIL})
    return cells
