"""sshd under a burst: mpirun and pdsh open many SSH connections to a node at once, and an
sshd whose MaxStartups is low drops the ones beyond it.

Two rounds, one after the other so they never add up on one sshd: from the head, BURST
TCP connections to each node's sshd held open at once; then the mesh's sources at once:
each node's PEER_SOURCES ring predecessors open PER_PEER connections each to it, all
sources started together and each holding its connections HOLD_S before reading, so they
overlap on the target as an mpirun launch tree's do (a node reached only through a
ProxyJump is tested by this round alone). Every connection must get sshd's banner; a node
that resets or closes some is asked for its effective MaxStartups/MaxSessions (`sshd -T`).
Raw connections (no key exchange) keep the bursts cheap: sshd counts a connection against
MaxStartups from accept until authentication. Both rounds stay within OpenSSH's default
MaxStartups (10:30:100), and each node opens PEER_SOURCES * PER_PEER connections: O(N).
The mesh round waits SETTLE_S and holds HOLD_S on purpose: 8 s of waiting, so it runs
from `standard` on, alongside ib_write_bw (preflight.fixtures.start_burst says why that
is safe); `quick` (a prolog's budget) does the head's round alone.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from preflight.measure.base import (
    cluster_addresses,
    failure_text,
    lost_nodes,
    per_node,
    reachable,
    run_script,
)
from preflight.runctx import RunContext
from preflight.transport.base import ConnectError

BURST = 10  # connections at once from the head, as an mpirun or pdsh fan-out opens them
PEER_SOURCES = 4  # nodes connecting to one node at once in the mesh round
PER_PEER = 2  # connections each of them holds
HOLD_S = 6.0  # how long a source holds its connections: covers the sources' start skew
BANNER_WAIT_S = 5.0
SETTLE_S = 2.0  # the head round's connections leave sshd's count before the mesh round
TURNED_AWAY = ("reset", "closed", "exceeded-MaxStartups", "no-banner")
# The node-side script, run in-process for the head's round (untyped: it runs on the
# nodes' own Python).
_node_side: Any = importlib.import_module("preflight.measure.remote.sshburst")


def measure_ssh_burst(ctx: RunContext) -> dict[str, Any]:
    names = reachable(ctx)
    found = per_node(ctx, names, lambda name: burst_node(ctx, name),
                     deadline_s=BANNER_WAIT_S * 2 * BURST + 30)
    nodes: dict[str, dict[str, Any]] = {
        name: ({"error": failure_text(answer)} if isinstance(answer, Exception) else answer)
        for name, answer in found.items()}
    mesh_round = ctx.expect.level != "quick"
    if mesh_round:
        time.sleep(SETTLE_S)
        for name, by_source in peer_burst(ctx, peer_sources(names)).items():
            nodes[name]["peers"] = by_source
    for name in [n for n, entry in nodes.items() if "sshd" not in entry and dropped(entry)]:
        nodes[name]["sshd"] = sshd_settings(ctx, name)
    return {"burst": BURST, "per_peer": PER_PEER if mesh_round else 0, "nodes": nodes}


def burst_node(ctx: RunContext, name: str) -> dict[str, Any]:
    transport = ctx.connections.get(name)
    endpoint = getattr(transport, "endpoint", None)
    if endpoint is None:
        return {"skipped": "not reached over ssh"}
    if endpoint.proxy_jump:
        return {"skipped": f"behind ProxyJump {endpoint.proxy_jump}: its sshd is not reached "
                           "directly from here"}
    answers = _node_side.open_burst([["head", endpoint.hostname, endpoint.port, BURST]], 0.0,
                                    BANNER_WAIT_S)["head"]
    entry: dict[str, Any] = {"answers": answers}
    if any(answer in TURNED_AWAY for answer in answers):
        entry["sshd"] = sshd_settings(ctx, name)
    return entry


def sshd_settings(ctx: RunContext, name: str) -> dict[str, Any]:
    try:
        settings: dict[str, Any] = run_script(ctx, name, "sshd_settings", {}, 20)
    except Exception as exc:  # noqa: BLE001 - the settings only explain the failure
        return {"error": failure_text(exc)}
    return settings


def peer_sources(names: list[str]) -> dict[str, list[str]]:
    """Target -> the nodes that connect to it at once: its PEER_SOURCES ring predecessors."""
    count = min(PEER_SOURCES, len(names) - 1)
    return {name: [names[(i - k) % len(names)] for k in range(1, count + 1)]
            for i, name in enumerate(names)}


def peer_burst(ctx: RunContext, sources: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The mesh round: target -> {source: [answers]} (or {"error": why} for a source whose
    script did not answer). A connect that failed (refused, timeout) is the reach checks'
    business; only connections sshd accepted and then dropped count as turned away."""
    addresses = cluster_addresses(ctx, list(sources))
    # A node lost mid-run (the bandwidth probes found it gone) is left out: its head round
    # says why, and asking it or about it would fail the whole round.
    port = {name: sshd_port(ctx, name) for name in sources}
    outgoing: dict[str, list[list[Any]]] = {}
    for target, froms in sources.items():
        if addresses[target] is None or port[target] is None:
            continue
        for src in (src for src in froms if port[src] is not None):
            outgoing.setdefault(src, []).append([target, addresses[target], port[target],
                                                 PER_PEER])
    timeout = HOLD_S + 2 * BANNER_WAIT_S + 20
    payloads = {src: {"targets": targets, "hold_s": HOLD_S, "wait_s": BANNER_WAIT_S}
                for src, targets in outgoing.items()}
    answers = per_node(ctx, list(payloads),
                       lambda src: run_script(ctx, src, "sshburst", payloads[src], timeout),
                       deadline_s=timeout + 20)
    found: dict[str, dict[str, Any]] = {target: {} for target in sources}
    for src, answer in answers.items():
        for target, _address, _port, _count in outgoing[src]:
            found[target][src] = ({"error": failure_text(answer)}
                                  if isinstance(answer, Exception)
                                  else answer.get(target, ["error"] * PER_PEER))
    return found


def sshd_port(ctx: RunContext, name: str) -> int | None:
    """The port the head reaches the node's sshd on (its ssh config's), else 22; None for
    a node this run lost (Connections remembers its failed connect)."""
    if lost_nodes(ctx, [name]):
        return None
    try:
        transport = ctx.connections.get(name)
    except ConnectError:  # lost since
        return None
    return int(getattr(getattr(transport, "endpoint", None), "port", 22))


def dropped(entry: dict[str, Any]) -> bool:
    """Did sshd turn away any connection of either round?"""
    head = any(answer in TURNED_AWAY for answer in entry.get("answers", []))
    return head or any(answer in TURNED_AWAY for answers in entry.get("peers", {}).values()
                       if isinstance(answers, list) for answer in answers)
