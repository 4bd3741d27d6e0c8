"""Path MTU: do full-size unfragmentable packets get through between pairs?

Which pairs: the run level's reach schedule; each source's deadline grows with its
targets, and a source that ran out of time is tried once more with more time, as is a
ping killed at its own deadline (a loaded node) before the pair is `error`.

Each source pings each target twice: full-size with DF set (`ping -M do`), and small as a
control, so a black hole (small packets pass, big ones vanish) is told apart from a target
that answers no ping at all.
"""

from __future__ import annotations

import re
import time
from typing import Any

from preflight.facts import ClusterFacts, majority
from preflight.measure.base import (
    RETRY_FACTOR,
    failure_text,
    pair_key,
    per_node_retried,
    reach_schedule,
    reachability_matrix,
    reachable,
    run_script,
    schedule_summary,
    verdict_cells,
)
from preflight.measure.second_look import second_look
from preflight.runctx import RunContext

IP_ICMP_HEADERS = 28
PING_WAIT_S = 2
COMMAND_TIMEOUT_S = PING_WAIT_S + 5
PARALLEL = 16  # pings at once on one source
LOCAL_MTU = re.compile(r"message too long, mtu\s*=\s*(\d+)")
NOT_MEASURED = {"ok", "no-reply", "no-ping", "error"}  # passed, or not judged: no retest
PATH_MTU = re.compile(r"Frag needed.*\(mtu\s*=\s*(\d+)\)")


def interface_mtus(ctx: RunContext) -> dict[str, list[Any]]:
    """node -> [cluster interface name, its MTU] for every node whose facts say."""
    cluster = ClusterFacts(ctx.outcomes())
    found = cluster.values(lambda n: _iface_mtu(n.cluster_interface(ctx.expect)))
    return {name: list(value) for name, value in found.items()}


def _iface_mtu(iface: dict[str, Any] | None) -> tuple[str, int] | None:
    if not iface or iface.get("mtu") is None:
        return None
    return str(iface.get("name")), int(iface["mtu"])


def expected_mtu(mtus: dict[str, list[Any]]) -> int | None:
    """The MTU most nodes use; on a tie, the largest (the one the others fall short of)."""
    values = [int(mtu) for _, mtu in mtus.values()]
    common, _, _ = majority(values)
    if common is None and values:
        return max(values)
    return common


def ping_argv(target: str, mtu: int) -> list[str]:
    return ["ping", "-M", "do", "-s", str(mtu - IP_ICMP_HEADERS), "-c", "3", "-i", "0.2",
            "-W", str(PING_WAIT_S), target]


def control_argv(target: str) -> list[str]:
    return ["ping", "-c", "2", "-i", "0.2", "-W", str(PING_WAIT_S), target]


def classify(full: Any, small: Any = None) -> tuple[str, str]:
    """[verdict, detail] from the full-size ping's answer and the small control ping's."""
    if not isinstance(full, dict):  # the node-side runner lost this command
        return "error", "no result for this ping from the node-side runner"
    text = f"{full.get('stdout', '')}\n{full.get('stderr', '')}"
    if full.get("rc") == 0:
        return "ok", ""
    if full.get("rc") == 127:
        return "no-ping", "ping is not installed"
    if local := LOCAL_MTU.search(text):
        return "local-mtu-smaller", f"the source's own MTU is {local.group(1)}"
    if hop := PATH_MTU.search(text):
        return "path-mtu-smaller", f"a hop on the path reports MTU {hop.group(1)}"
    if full.get("rc") != 1:  # 2: ping itself failed (unknown host, bad option)
        return "error", _summary(text) or f"ping exit {full.get('rc')}"
    if isinstance(small, dict) and small.get("rc") != 0:
        return "no-reply", "no reply even to small pings (ICMP blocked or no route)"
    return "black-hole", "small pings get replies, full-size ones are lost"


def _summary(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def measure_mtu(ctx: RunContext) -> dict[str, Any]:
    started = time.monotonic()
    names = reachable(ctx)
    mtus = interface_mtus(ctx)
    mtu = expected_mtu(mtus)
    if mtu is None:
        return {"mtu": None, "mtus": mtus, "pairs": {}, "matrices": {}}
    targets = reach_schedule(ctx, names)
    pairs, retried = _ping_all(ctx, targets, mtu)
    again = {src: [dst for dst in dsts if pairs[pair_key(src, dst)][0] == "error"]
             for src, dsts in targets.items()}
    if any(again.values()):  # a ping killed at its deadline on a loaded node: once more
        pairs.update(_ping_all(ctx, {s: d for s, d in again.items() if d}, mtu,
                               COMMAND_TIMEOUT_S * RETRY_FACTOR)[0])
    looked = second_look(targets, pairs, lambda v: v[0] not in NOT_MEASURED,
                         lambda again: _ping_all(ctx, again, mtu)[0])
    matrix = reachability_matrix(f"Path MTU {mtu}", names, verdict_cells(pairs))
    return {"mtu": mtu, "mtus": mtus, "pairs": pairs,
            "schedule": schedule_summary(ctx, targets), "retried": retried,
            "second_look": looked,
            "wall_s": round(time.monotonic() - started, 2), "matrices": {"path_mtu": matrix}}


def _ping_all(ctx: RunContext, targets: dict[str, list[str]], mtu: int,
              command_timeout: float = COMMAND_TIMEOUT_S) -> tuple[dict[str, list[str]],
                                                                  list[str]]:
    def budget(src: str) -> float:
        return command_timeout * -(-2 * max(len(targets[src]), 1) // PARALLEL) + 20

    def from_source(src: str, deadline: float) -> list[tuple[str, list[str]]]:
        commands = [argv for t in targets[src] for argv in (ping_argv(t, mtu), control_argv(t))]
        payload = {"commands": commands, "timeout": command_timeout, "parallel": PARALLEL}
        answers: list[Any] = run_script(ctx, src, "runmany", payload, deadline)
        return [(dst, list(classify(answers[2 * i], answers[2 * i + 1])))
                for i, dst in enumerate(targets[src])]

    pairs: dict[str, list[str]] = {}
    outcomes, retried = per_node_retried(ctx, list(targets), from_source, budget)
    for src, outcome in outcomes.items():
        if isinstance(outcome, Exception):
            pairs.update({pair_key(src, dst): ["error", failure_text(outcome)]
                          for dst in targets[src]})
        else:
            pairs.update({pair_key(src, dst): verdict for dst, verdict in outcome})
    return pairs, retried
