"""ib_write_bw (perftest) between pairs, per rail, in the same rounds as iperf3.

For one pair test the target starts a server per rail (remote/serve.py, TCP port 18515+i),
the source runs every rail's client at once (remote/runmany.py), and the pair's figure is
its slowest rail. Nodes without an IB/RoCE device or without perftest are skipped, with
the reason. Each rail records its figure and its ports' rate, never a floor or a verdict:
the check computes floors from the expectations it runs under (`preflight.pairjudge`), so
`preflight check --from RUN` re-judges a recording under another profile (the floors here
only plan what the isolation retests, recorded as the plan).
"""

from __future__ import annotations

import json
from typing import Any

from preflight.facts import ClusterFacts, NodeFacts
from preflight.measure.base import (
    CONNECT_TIMEOUT_S,
    ConnectFailure,
    ProbeError,
    cluster_addresses,
    connect_verdict,
    connected,
    failure_text,
    lost_by,
    lost_nodes,
    per_node,
    reachable,
    run_script,
    spawn_script,
)
from preflight.measure.pairwise import PairProbe, measure_pairs
from preflight.measure.rails import (
    TOOL,
    Rail,
    RailPair,
    Settings,
    client_argv,
    match_rails,
    node_rails,
    rail_gbps,
    server_argv,
    settings_from,
)
from preflight.pairjudge import Entry, rails_rule
from preflight.runctx import RunContext
from preflight.schedule import Pair, parse_mode
from preflight.verdict import Unavailable

READY_TIMEOUT_S = 10.0
GRACE_S = 5.0


def measure_ib_write_bw(ctx: RunContext) -> dict[str, Any]:
    settings = settings_from(ctx.expect)
    rails, skipped, unmeasured = plan(ctx, settings)
    base = {"tool": TOOL, "skipped": skipped, "unmeasured": unmeasured,
            "bidirectional": settings.bidirectional}
    nodes = schedule_nodes(ctx)
    testable = [name for name in nodes if name in rails]
    if len(testable) < 2:
        return {**base, "pairs": {}}
    mode = parse_mode(ctx.expect.pair_mode, len(nodes))
    # A mesh pairs the testable nodes only; a ring or sample keeps the schedule that the
    # pair checks were parametrized with (preflight.pair_params): every node with ports.
    names = testable if mode.kind == "mesh" else nodes
    addresses = cluster_addresses(ctx, names)
    probe = PairProbe(TOOL, lambda s, d: one_test(ctx, rails, (s, d), addresses[d], settings),
                      lambda results: rails_rule(settings),
                      per_test_s=_lifetime(settings) + 10, width=ctx.fanout,
                      both_ways=not settings.bidirectional,
                      lost_by=lambda error: lost_by(ctx, error))
    return {**measure_pairs(names, str(mode), probe, lost_nodes(ctx, names)), **base}


def schedule_nodes(ctx: RunContext) -> list[str]:
    """The nodes an ib_write_bw schedule pairs: reachable, with IB/RoCE ports in their facts
    (known before collection; whether perftest is there is asked later)."""
    cluster = ClusterFacts(ctx.outcomes())
    return [name for name in reachable(ctx) if _has_ports(cluster.node(name))]


def _has_ports(node: NodeFacts) -> bool:
    try:
        return bool(node.ib_ports)
    except Unavailable:
        return False


def plan(ctx: RunContext, settings: Settings) -> tuple[
        dict[str, list[Rail]], dict[str, str], dict[str, str]]:
    """Each testable node's rails; why every other reachable node is skipped (nothing to
    test); and the nodes that could not be asked (an error, not a skip)."""
    cluster = ClusterFacts(ctx.outcomes())
    rails: dict[str, list[Rail]] = {}
    skipped: dict[str, str] = {}
    for name in reachable(ctx):
        node = cluster.node(name)
        try:
            ports = node.ib_ports
        except Unavailable as exc:
            skipped[name] = str(exc)
            continue
        if not ports:
            skipped[name] = f"{name}: no InfiniBand/RoCE device (ibstat shows none)"
            continue
        rails[name] = node_rails(ports, _topo(node), _gpus(node), settings.gpudirect)
    missing, unmeasured = without_tool(ctx, list(rails))
    skipped.update(missing)
    for name in [*missing, *unmeasured]:
        rails.pop(name)
    return rails, skipped, unmeasured


def _topo(node: NodeFacts) -> dict[str, Any] | None:
    try:
        return node.topo
    except Unavailable:
        return None


def _gpus(node: NodeFacts) -> int | None:
    try:
        gpus = node.gpus
    except Unavailable:
        return None
    return len(gpus) if gpus else None


def without_tool(ctx: RunContext, names: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The nodes without the tool, and those that could not be asked, each with why."""
    found = per_node(ctx, names, lambda n: run_script(ctx, n, "which", [TOOL], 20),
                     deadline_s=40)
    missing, unasked = {}, {}
    for name, answer in found.items():
        if isinstance(answer, Exception):
            unasked[name] = f"{name}: could not look for {TOOL}: {failure_text(answer)}"
        elif not answer.get(TOOL):
            missing[name] = f"{name}: {TOOL} (perftest) is not installed"
    return missing, unasked


def _lifetime(settings: Settings) -> float:
    return READY_TIMEOUT_S + settings.seconds + 30


def one_test(ctx: RunContext, rails: dict[str, list[Rail]], pair: Pair, address: str | None,
             settings: Settings) -> Entry:
    src, dst = pair
    for node in pair:
        if node not in rails:
            raise ProbeError(f"{node}: not tested (no usable {TOOL} on it)")
    tested, untested = match_rails(rails[src], rails[dst], settings)
    if not tested:
        raise ProbeError(f"{src} -> {dst}: no rail is Active at both ends "
                         f"({'; '.join(untested.values())})")
    if address is None:
        raise ProbeError(f"{dst}: no cluster address for the {TOOL} servers")
    clients, servers = _exchange(ctx, src, dst, tested, address, settings)
    refused = [(verdict, p.dst.tcp_port) for p, c in zip(tested, clients, strict=True)
               if (verdict := connect_verdict(c))]
    if len(refused) == len(tested):  # no rail got through to its server
        raise ConnectFailure(TOOL, refused[0][0], refused[0][1], dst)
    results = {p.src.device: _rail(p, c, s) for p, c, s in zip(tested, clients, servers,
                                                                 strict=True)}
    measured = [r["gbps"] for r in results.values() if r["gbps"] is not None]
    entry: Entry = {"gbps": min(measured) if measured else None, "rails": results,
                    "untested": untested}
    if not measured:
        entry["error"] = f"every rail failed: {next(iter(results.values()))['error']}"
    return entry


def _exchange(ctx: RunContext, src: str, dst: str, tested: list[RailPair], address: str,
              settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Servers on dst, clients on src: (client answers, server answers), one per rail."""
    payload = {"commands": [server_argv(p.dst, settings) for p in tested],
               "ports": [p.dst.tcp_port for p in tested], "ready_timeout": READY_TIMEOUT_S,
               "grace": GRACE_S, "lifetime": _lifetime(settings)}
    spawned = spawn_script(ctx, dst, "serve", payload, _lifetime(settings) + GRACE_S + 5)
    clients: list[dict[str, Any]] = []
    try:
        if not spawned.wait_for(b"READY ", READY_TIMEOUT_S + 10):
            raise ProbeError(f"{dst}: {TOOL} servers did not start")
        commands = [client_argv(p.src, settings, address) for p in tested]
        clients = run_script(
            ctx, src, "runmany",
            {"commands": commands, "timeout": settings.seconds + 20, "parallel": len(commands),
             "connects": [[address, p.dst.tcp_port] for p in tested],
             "connect_timeout": CONNECT_TIMEOUT_S},
            settings.seconds + 30)
    finally:
        # Servers none of whose clients connected have nothing left to report: stopped now.
        done = spawned.finish(GRACE_S + 5 if any(map(connected, clients)) else 0)
    return clients, _servers(done.text(), len(tested))


def _servers(text: str, count: int) -> list[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("DONE "):
            answers: list[dict[str, Any]] = json.loads(line[5:])
            if len(answers) == count:
                return answers
    return [{} for _ in range(count)]


def _rail(pair: RailPair, client: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    rail: dict[str, Any] = {"peer": pair.dst.device, "port_rate_gbps": pair.port_rate_gbps}
    if pair.src.cuda is not None:
        rail["cuda"] = [pair.src.cuda, pair.dst.cuda]
    try:
        return {**rail, "gbps": round(rail_gbps(client), 2), "error": None}
    except ValueError as exc:
        said = [line.strip() for line in str(server.get("stderr") or "").splitlines()
                if line.strip()]
        server_side = f" (server: {said[-1][:200]})" if said else ""
        return {**rail, "gbps": None, "error": f"{exc}{server_side}"}
