"""TCP ports between pairs: short-lived listeners on each target, connects from each source.

Which pairs: the run level's reach schedule (master and ring neighbours, K random peers,
or every pair). Each source's deadline grows with its connects; a source that ran out of
time is tried once more with more time before its pairs are `error`. A connect that got
no answer is tried once more with twice the time before it counts as filtered: a DROP
rule drops it again, a SYN lost on a lossy link (or its answer) is not lost twice.

Verdicts: open, refused (nothing listening, or REJECT), filtered (no answer: a DROP rule or
security group), no-route, unresolved. Listeners bind to the target's cluster address only
and stop when their stdin closes (or at their deadline, whatever happens here).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from preflight.facts import ClusterFacts, NodeFacts
from preflight.measure.base import (
    CONNECT_TIMEOUT_S,
    RETRY_FACTOR,
    ProbeError,
    ProbeTimeout,
    cluster_addresses,
    failure_text,
    pair_key,
    per_node,
    per_node_retried,
    reach_schedule,
    reachability_matrix,
    reachable,
    run_script,
    schedule_summary,
    spawn_script,
)
from preflight.measure.second_look import second_look
from preflight.results import Status
from preflight.runctx import RunContext

READY_TIMEOUT_S = 15.0
CONNECTS_AT_ONCE = 256  # connect.py's batch size
EPHEMERAL_PORTS = 3  # random ports of the ephemeral range tested per run


def port_list(ports: list[int], ranges: list[str]) -> list[int]:
    wanted = set(ports)
    for text in ranges:
        low, _, high = text.partition("-")
        wanted.update(range(int(low), int(high or low) + 1))
    return sorted(wanted)


def ephemeral_ports(ctx: RunContext, names: list[str], taken: list[int],
                    count: int = EPHEMERAL_PORTS) -> tuple[list[int], list[int] | None]:
    """A few ports of the ephemeral range all nodes share (net.ipv4.ip_local_port_range,
    where NCCL and gloo listen), chosen at random per run, and that range."""
    cluster = ClusterFacts(ctx.outcomes())
    ranges = cluster.values(lambda n: _range(n) if n.name in names else None)
    if not ranges:
        return [], None
    low, high = max(r[0] for r in ranges.values()), min(r[1] for r in ranges.values())
    if low > high:
        return [], None  # no port is ephemeral on every node
    pool = [port for port in range(low, high + 1) if port not in taken]
    return sorted(random.SystemRandom().sample(pool, min(count, len(pool)))), [low, high]


def _range(node: NodeFacts) -> tuple[int, int] | None:
    bounds = (node.get("network") or {}).get("ephemeral_ports")
    return (int(bounds[0]), int(bounds[1])) if isinstance(bounds, list) and len(bounds) == 2 \
        else None


def connect_timeout(connects: int) -> float:
    """How long one source's connects may take: batches of CONNECTS_AT_ONCE, each at most
    CONNECT_TIMEOUT_S when a firewall drops them, plus startup."""
    batches = -(-connects // CONNECTS_AT_ONCE)
    return CONNECT_TIMEOUT_S * max(batches, 1) + 20


def measure_ports(ctx: RunContext) -> dict[str, Any]:
    started_at = time.monotonic()
    names = reachable(ctx)
    configured = port_list(ctx.expect.ports, ctx.expect.port_ranges)
    ephemeral, ephemeral_range = ephemeral_ports(ctx, names, configured)
    ports = sorted([*configured, *ephemeral])
    targets = reach_schedule(ctx, names)
    longest = connect_timeout(len(ports) * max((len(t) for t in targets.values()), default=0))
    # each pass (the first, the second look): its connects, the sources that ran out of
    # time once more, then the unanswered connects with twice the time
    lifetime = READY_TIMEOUT_S + 2 * longest * (1 + 2 * RETRY_FACTOR) + 60
    listeners: dict[str, Any] = {}
    listener_status: dict[str, Any] = {}
    try:
        addresses = cluster_addresses(ctx, names)
        started = _start_listeners(ctx, names, addresses, ports, lifetime)
        for name, outcome in started.items():
            if isinstance(outcome, Exception):
                listener_status[name] = {"error": failure_text(outcome)}
            else:
                listeners[name], listener_status[name] = outcome
        verdicts, retried, unanswered = _connect_all(ctx, targets, ports)
        looked = second_look(targets, verdicts, closed,
                             lambda again: _connect_all(ctx, again, ports)[0])
    finally:  # every listener told to stop at once: one after the other costs N round trips
        stopped = per_node(ctx, list(listeners), lambda n: listeners[n].finish(5).text(),
                           deadline_s=20)
        for name, text in stopped.items():
            listener_status[name]["ports"] = bound_ports(text if isinstance(text, str) else "")
    mark_missing_listeners(verdicts, listener_status)
    return {"ports": ports, "ephemeral": ephemeral, "ephemeral_range": ephemeral_range,
            "listeners": listener_status, "pairs": verdicts,
            "schedule": schedule_summary(ctx, targets), "retried": retried,
            "unanswered_retried": unanswered, "second_look": looked,
            "wall_s": round(time.monotonic() - started_at, 2),
            "matrices": _matrices(names, ports, verdicts)}


def closed(per_port: dict[str, Any]) -> bool:
    """A pair with a port measured and not open (an error is not measured)."""
    return any(verdict[0] not in ("open", "error") for verdict in per_port.values())


def bound_ports(listener_output: str) -> dict[str, str]:
    """The listener's own word on each port: "listening", "in-use" (another socket of the
    node has it: a random ephemeral port can be a live connection's), or why bind failed."""
    for line in listener_output.splitlines():
        if line.startswith("READY "):
            try:
                found: dict[str, str] = json.loads(line[6:])
            except ValueError:
                return {}
            return found
    return {}


def mark_missing_listeners(verdicts: dict[str, Any], listeners: dict[str, Any]) -> None:
    """A target whose listener never started cannot be judged: refused would be a lie. A
    port its listener could not bind is untested there (refused would blame the node for a
    port another of its sockets holds)."""
    for key, per_port in verdicts.items():
        listener = listeners.get(key.split("|")[1], {})
        error = listener.get("error")
        for port in per_port:
            if per_port[port][0] == "open":
                continue
            bound = (listener.get("ports") or {}).get(str(port), "listening")
            if error:
                per_port[port] = ["error", f"no listener: {error}"]
            elif bound != "listening" and per_port[port][0] == "refused":
                per_port[port] = ["untested", f"the node could not listen on it: {bound}"]


def _start_listeners(ctx: RunContext, names: list[str], addresses: dict[str, str | None],
                     ports: list[int], lifetime: float) -> dict[str, Any]:
    """Each node's listener; one that did not start in time or whose channel did not open
    (a loaded node, its sshd) is started once more with RETRY_FACTOR times the time, before
    its ports count as not tested. Only a node without an address is not retried."""
    def start(nodes: list[str], ready: float) -> dict[str, Any]:
        return per_node(ctx, nodes, lambda n: _start_listener(
            ctx, n, addresses[n], ports, lifetime + ready, ready), deadline_s=ready + 10)

    started = start(names, READY_TIMEOUT_S)
    late = [n for n, o in started.items() if isinstance(o, Exception)
            and (isinstance(o, ProbeTimeout) or not isinstance(o, ProbeError))]
    if late:
        started.update(start(late, READY_TIMEOUT_S * RETRY_FACTOR))
    return started


def _start_listener(ctx: RunContext, name: str, address: str | None, ports: list[int],
                    lifetime: float, ready: float) -> tuple[Any, dict[str, Any]]:
    if address is None:
        raise ProbeError(f"{name}: no cluster address to listen on")
    spawned = spawn_script(ctx, name, "listen", {"address": address, "ports": ports}, lifetime)
    if not spawned.wait_for(b"READY ", ready):
        spawned.finish(2)
        raise ProbeTimeout(f"{name}: listener did not start within {ready:g} s")
    return spawned, {"address": address}


def _connect_all(ctx: RunContext, targets: dict[str, list[str]],
                 ports: list[int]) -> tuple[dict[str, Any], list[str], int]:
    """{"src|dst": {port: [verdict, detail]}}, the sources run twice for running out of
    time, and how many unanswered connects were tried once more."""
    wanted = {src: [(dst, port) for dst in dsts for port in ports]
              for src, dsts in targets.items()}
    outcomes, retried = per_node_retried(
        ctx, list(wanted), lambda src, timeout: _connect(ctx, src, wanted[src],
                                                         CONNECT_TIMEOUT_S, timeout),
        lambda src: connect_timeout(len(wanted[src])))
    verdicts: dict[str, Any] = {}
    for src, outcome in outcomes.items():
        for dst in targets[src]:
            verdicts[pair_key(src, dst)] = {
                str(port): (["error", failure_text(outcome)] if isinstance(outcome, Exception)
                            else outcome.get(f"{dst}|{port}", ["error", "no answer"]))
                for port in ports}
    return verdicts, retried, _retry_unanswered(ctx, verdicts)


def _retry_unanswered(ctx: RunContext, verdicts: dict[str, Any]) -> int:
    """The connects that got no answer, once more with RETRY_FACTOR times the time; the
    second verdict replaces the first (a source whose retry failed keeps its first)."""
    wanted: dict[str, list[tuple[str, int]]] = {}
    for key, per_port in verdicts.items():
        src, dst = key.split("|")
        wanted_here = [(dst, int(port)) for port, v in per_port.items() if v[0] == "filtered"]
        if wanted_here:
            wanted.setdefault(src, []).extend(wanted_here)
    if not wanted:
        return 0
    patience = CONNECT_TIMEOUT_S * RETRY_FACTOR
    budget = {src: connect_timeout(len(w)) * RETRY_FACTOR for src, w in wanted.items()}
    outcomes = per_node(ctx, list(wanted), lambda src: _connect(
        ctx, src, wanted[src], patience, budget[src]), deadline_s=max(budget.values()) + 20)
    for src, outcome in outcomes.items():
        if not isinstance(outcome, Exception):
            for dst, port in wanted[src]:
                if verdict := outcome.get(f"{dst}|{port}"):
                    verdicts[pair_key(src, dst)][str(port)] = verdict
    return sum(map(len, wanted.values()))


def _connect(ctx: RunContext, src: str, wanted: list[tuple[str, int]], connect_s: float,
             timeout: float) -> dict[str, Any]:
    """connect.py on `src`: {"dst|port": [verdict, detail]}."""
    payload = {"targets": [[dst, dst, port] for dst, port in wanted], "timeout": connect_s}
    answer: dict[str, Any] = run_script(ctx, src, "connect", payload, timeout)
    return answer


def _matrices(names: list[str], ports: list[int], verdicts: dict[str, Any]) -> dict[str, Any]:
    matrices = {}
    for port in ports:
        cells = []
        for key, per_port in verdicts.items():
            src, dst = key.split("|")
            value = per_port[str(port)][0]
            status = {"open": Status.PASS, "untested": Status.SKIP}.get(value, Status.FAIL)
            cells.append({"src": src, "dst": dst, "value": value, "status": status})
        matrices[f"ports:{port}"] = reachability_matrix(f"TCP {port}", names, cells)
    return matrices
