"""`preflight run --plan`: what a run would do for this inventory and level, without
contacting a node: the probes, their schedule (rounds, connections per node) and an
estimated wall time per phase from the settings (rounds x seconds per round).

Counts come from formulas (preflight.schedule's reach_fanout, round counts), never from
building an N^2 schedule, so a plan for 1,024 nodes at full answers at once. The seconds
per step are rough figures for a healthy cluster, not a promise.
"""

from __future__ import annotations

from dataclasses import dataclass

from preflight.config import Expectations
from preflight.measure.mesh import PARALLEL as SSH_AT_ONCE
from preflight.measure.mtu import PARALLEL as PINGS_AT_ONCE
from preflight.measure.ports import port_list
from preflight.schedule import parse_mode, reach_fanout, round_count

GATHER_S = 5.0  # one wave of probes (a node answers in 1-5 s)
SSH_HANDSHAKE_S = 0.5
PING_PAIR_S = 1.0  # full-size and control pings, 3 + 2 at 0.2 s apart
PORTS_SETUP_S = 3.0  # listeners up
BANDWIDTH_SETUP_S = 2.0  # servers up, per step
IB_WRITE_BW_S = 5.0
TORCH_S = 30.0  # rendezvous, barrier and the all_reduce sweep
NCCL_TESTS_S = 120.0  # single-node on every node at once, then one multi-node job


@dataclass(frozen=True)
class Step:
    phase: str
    probe: str
    schedule: str
    wall_s: float


def plan(nodes: int, expect: Expectations, fanout: int) -> list[Step]:
    level = expect.level
    steps = [Step("gather", "facts (one probe per node)",
                  f"{nodes} nodes, {fanout} at once: {_waves(nodes, fanout)} wave(s)",
                  _waves(nodes, fanout) * GATHER_S)]
    steps += _reach(nodes, expect)
    if level != "quick":
        steps += _bandwidth(nodes, expect)
        steps.append(Step("collectives", "torch rendezvous + all_reduce",
                          f"one job across {nodes} nodes (where torch is installed)", TORCH_S))
    if expect.nccl_tests:
        steps.append(Step("nccl_tests", "nccl-tests", "single-node on each node, then one "
                          "multi-node job (where found)", NCCL_TESTS_S))
    return steps


def _waves(nodes: int, fanout: int) -> int:
    return max(1, -(-nodes // max(1, fanout)))


def _reach(nodes: int, expect: Expectations) -> list[Step]:
    level = expect.level
    targets = reach_fanout(nodes, level, expect.sample_peers)
    ssh_targets = reach_fanout(nodes, level, expect.sample_peers, ssh=True)
    what = {"quick": "master + next ring node",
            "standard": f"master + ring neighbours + {expect.sample_peers} random peers",
            "full": "every other node"}[level]
    if level == "standard" and targets == nodes - 1:
        what = "every other node (small cluster)"
    ssh_what = "next ring node" if level == "quick" else what
    ports = port_list(expect.ports, expect.port_ranges)
    per_node = f"{what}: up to {targets} targets per node"
    steps = [
        Step("reach", "TCP ports", f"{per_node}, {len(ports)} port(s) each",
             PORTS_SETUP_S + targets * len(ports) * 0.01),
        Step("reach", "SSH mesh",
             f"{ssh_what}: up to {ssh_targets} targets per node, {SSH_AT_ONCE} at once",
             -(-ssh_targets // SSH_AT_ONCE) * SSH_HANDSHAKE_S),
    ]
    if level != "quick":
        steps.append(Step("reach", "path MTU", f"{per_node}, {PINGS_AT_ONCE} pings at once",
                          -(-2 * targets // PINGS_AT_ONCE) * PING_PAIR_S))
    return steps


def _bandwidth(nodes: int, expect: Expectations) -> list[Step]:
    mode = parse_mode(expect.pair_mode, nodes)
    rounds = round_count(nodes, mode)
    schedule = f"{mode}: {rounds} round(s) x 2 directions, each node in one test at a time"
    iperf = rounds * 2 * (expect.iperf_seconds + BANDWIDTH_SETUP_S)
    ib = rounds * 2 * (IB_WRITE_BW_S + BANDWIDTH_SETUP_S)
    return [Step("bandwidth", f"iperf3 ({expect.iperf_seconds:g} s per test)", schedule, iperf),
            Step("bandwidth", "ib_write_bw (where IB/RoCE ports are found)", schedule, ib)]


def phase_estimates(steps: list[Step]) -> dict[str, float]:
    """Probes of one phase run at once: a phase takes as long as its longest probe;
    bandwidth probes run one after the other."""
    walls: dict[str, float] = {}
    for step in steps:
        if step.phase == "bandwidth":
            walls[step.phase] = walls.get(step.phase, 0.0) + step.wall_s
        else:
            walls[step.phase] = max(walls.get(step.phase, 0.0), step.wall_s)
    return walls


def render(nodes: int, expect: Expectations, fanout: int) -> list[str]:
    steps = plan(nodes, expect, fanout)
    walls = phase_estimates(steps)
    lines = [f"preflight run --plan: {nodes} node(s), level {expect.level}, "
             f"bandwidth schedule {expect.pair_mode}; no node contacted"]
    lines += [f"  {s.phase:<12} {s.probe:<44} {s.schedule}" for s in steps]
    lines.append("estimated wall per phase (healthy cluster):")
    lines += [f"  {phase:<12} ~{_seconds(wall)}" for phase, wall in walls.items()]
    lines.append(f"  {'total':<12} ~{_seconds(sum(walls.values()))}")
    return lines


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
