"""Which pairs a pair check is parametrized over: every ordered pair, except for checks of
a scheduled probe (iperf3, ib_write_bw) under a schedule that is not a full mesh, which get
only the pairs their schedule measures (both directions), and checks of the reach probes
(ports, SSH mesh, path MTU) below level full, which get the pairs of the level's reach
schedule. At 64 nodes in ring mode that is 256 items per check instead of 4032, most of
which would only say "not scheduled".

Facts are gathered before collection, so the schedule is known here; it is computed by the
same functions (and over the same nodes) as the probes' own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from preflight.runctx import RunContext
from preflight.schedule import Pair, directed, parse_mode, rounds


def _iperf_nodes(ctx: RunContext) -> list[str]:
    from preflight.measure.base import reachable

    return reachable(ctx)


def _rdma_nodes(ctx: RunContext) -> list[str]:
    from preflight.measure.rdma import schedule_nodes

    return schedule_nodes(ctx)


SCHEDULED: dict[str, Callable[[RunContext], list[str]]] = {
    "iperf_probe": _iperf_nodes,
    "ib_write_bw_probe": _rdma_nodes,
}


def all_pairs(names: Sequence[str]) -> list[Pair]:
    return [(a, b) for a in names for b in names if a != b]


def scheduled_pairs(nodes: Sequence[str], mode_text: str) -> set[Pair] | None:
    """Both directions of the pairs the schedule measures among `nodes`; None for a mesh
    (every pair)."""
    mode = parse_mode(mode_text, len(nodes))
    if mode.kind == "mesh":
        return None
    return {pair for round_ in rounds(nodes, mode) for step in directed(round_) for pair in step}


REACH = {"ports_probe", "mesh_probe", "mtu_probe"}


def reach_pairs(ctx: RunContext) -> set[Pair] | None:
    """The pairs the reach probes measure at this level; None at full (every pair)."""
    from preflight.measure.base import reach_schedule

    if ctx.expect.level == "full":
        return None
    targets = reach_schedule(ctx, _iperf_nodes(ctx))
    return {(src, dst) for src, dsts in targets.items() for dst in dsts}


def pair_params(ctx: RunContext | None, fixtures: Sequence[str],
                names: Sequence[str]) -> list[Pair]:
    everyone = all_pairs(names)
    if ctx is not None and REACH & set(fixtures):
        try:
            reached = reach_pairs(ctx)
        except Exception:  # noqa: BLE001 - no facts (yet): every pair, as before
            return everyone
        return everyone if reached is None else [p for p in everyone if p in reached]
    probe = next((f for f in fixtures if f in SCHEDULED), None)
    if ctx is None or probe is None:
        return everyone
    try:
        nodes = SCHEDULED[probe](ctx)
    except Exception:  # noqa: BLE001 - no facts (yet): every pair, as before
        return everyone
    measured = scheduled_pairs(nodes, ctx.expect.pair_mode)
    return everyone if measured is None else [p for p in everyone if p in measured]
