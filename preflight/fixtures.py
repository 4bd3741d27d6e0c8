"""Session fixtures for the active probes: each measures once per run, only when asked for.

The reach probes (ports, SSH mesh, path MTU) do not disturb each other: the first one
asked for starts every one the selected checks need, at once. Bandwidth probes run one
after the other; the sshd burst runs alongside ib_write_bw (start_burst).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

import pytest

from preflight.runctx import RunContext


def measure_once(run_context: RunContext, name: str,
                 compute: Callable[[RunContext], dict[str, Any]]) -> dict[str, Any]:
    """The one way a probe fixture measures: once per run (RunContext.measure), never
    after an interrupt."""
    if run_context.interrupted:
        pytest.skip("run interrupted")
    return run_context.measure(name, lambda: compute(run_context))


def _ports(ctx: RunContext) -> dict[str, Any]:
    from preflight.measure.ports import measure_ports

    with ctx.exclusive("master_port"):  # the torch rendezvous binds it too
        return measure_ports(ctx)


def _mesh(ctx: RunContext) -> dict[str, Any]:
    from preflight.measure.mesh import measure_mesh

    return measure_mesh(ctx)


def _mtu(ctx: RunContext) -> dict[str, Any]:
    from preflight.measure.mtu import measure_mtu

    return measure_mtu(ctx)


REACH: dict[str, tuple[str, Callable[[RunContext], dict[str, Any]]]] = {
    "ports_probe": ("ports", _ports), "mesh_probe": ("ssh_mesh", _mesh),
    "mtu_probe": ("path_mtu", _mtu),
}
ReachOutcome = dict[str, Any] | BaseException


def start_reach(ctx: RunContext, wanted: list[str] | None = None) -> dict[
        str, cf.Future[dict[str, Any]]]:
    """Start every reach probe the selected checks use, at once and in the background
    (once per run): they run while the node-local checks are judged."""
    if not ctx.reach_runs:
        chosen = wanted or [f for f in REACH if f in ctx.wanted_probes]
        if not chosen:
            return {}
        pool = cf.ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="reach")
        ctx.reach_runs = {f: pool.submit(measure_once, ctx, *REACH[f]) for f in chosen}
        pool.shutdown(wait=False)  # its threads end with their probes
    return ctx.reach_runs


BANDWIDTH_PROBES = ("iperf_probe", "ib_write_bw_probe")


def start_probes(ctx: RunContext) -> None:
    """At collection: the reach probes, and where no bandwidth probe will run (quick) the
    sshd burst, which then starts as soon as the reach probes end, while their checks are
    judged (the head's CPU, no measurement), instead of after them."""
    start_reach(ctx)
    wanted = ctx.wanted_probes
    if "ssh_burst_probe" in wanted and not any(p in wanted for p in BANDWIDTH_PROBES):
        start_burst(ctx)


@pytest.fixture(scope="session")
def reach_phase(run_context: RunContext) -> dict[str, ReachOutcome]:
    """Every reach probe the selected checks use, measured at once: fixture -> its
    measurement, or the exception it raised (re-raised by that probe's fixture)."""
    futures = start_reach(run_context) or start_reach(run_context, list(REACH))
    return {f: future.exception() or future.result() for f, future in futures.items()}


def _reach(phase: dict[str, ReachOutcome], fixture: str, ctx: RunContext) -> dict[str, Any]:
    outcome = phase.get(fixture)
    if outcome is None:  # not selected at collection, asked for anyway
        return measure_once(ctx, *REACH[fixture])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.fixture(scope="session")
def ports_probe(run_context: RunContext, reach_phase: dict[str, ReachOutcome]) -> dict[str, Any]:
    return _reach(reach_phase, "ports_probe", run_context)


@pytest.fixture(scope="session")
def mesh_probe(run_context: RunContext, reach_phase: dict[str, ReachOutcome]) -> dict[str, Any]:
    return _reach(reach_phase, "mesh_probe", run_context)


@pytest.fixture(scope="session")
def mtu_probe(run_context: RunContext, reach_phase: dict[str, ReachOutcome]) -> dict[str, Any]:
    return _reach(reach_phase, "mtu_probe", run_context)


@pytest.fixture(scope="session")
def iperf_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.iperf import measure_iperf

    return measure_once(run_context, "iperf3", measure_iperf)


@pytest.fixture(scope="session")
def ib_write_bw_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.rdma import measure_ib_write_bw

    if "ssh_burst_probe" in run_context.wanted_probes:
        start_burst(run_context)
    return measure_once(run_context, "ib_write_bw", measure_ib_write_bw)


@pytest.fixture(scope="session")
def sharedfs_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.applies import skip_unless_applies
    from preflight.measure.sharedfs import measure_shared_fs

    # The probe's condition is write_read's alone (shared paths given): asked of the table
    skip_unless_applies("shared_fs_write_read", run_context.expect)
    return measure_once(run_context, "shared_fs", measure_shared_fs)


@pytest.fixture(scope="session")
def ssh_burst_probe(run_context: RunContext) -> dict[str, Any]:
    return start_burst(run_context).result()


def start_burst(ctx: RunContext) -> cf.Future[dict[str, Any]]:
    """The sshd burst in the background (once per run). ib_write_bw starts it, so its
    mesh round's settle and hold (8 s of waiting) pass while RDMA is measured: the burst is
    a few hundred bytes per connection and an sshd fork per connection on each node, and
    ib_write_bw's data goes over the RDMA NIC, not the host's TCP stack or sshd; the SSH
    channels it runs over were opened before (no new handshake for MaxStartups to turn
    away). Its checks run after the bandwidth checks (levels.run_order) and wait for it.
    Without bandwidth probes (quick) start_probes starts it at collection; where
    ib_write_bw is not selected but iperf3 is (-k), its checks start it themselves."""
    if ctx.burst_run is None:
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="burst")
        ctx.burst_run = pool.submit(burst_after_reach, ctx)
        pool.shutdown(wait=False)
    return ctx.burst_run


def burst_after_reach(ctx: RunContext) -> dict[str, Any]:
    """The sshd burst, once the reach probes are done. The burst fills sshd's pre-auth
    slots on purpose: the mesh, ports and MTU probes in flight would be turned away by a
    node with a low MaxStartups. start_reach, not this process's futures: under xdist
    another worker may be measuring them, and measure_once then waits for its recording."""
    from preflight.measure.burst import measure_ssh_burst

    cf.wait(start_reach(ctx).values())
    return measure_once(ctx, "ssh_burst", measure_ssh_burst)


def pair_entry(probe: dict[str, Any], pair: tuple[str, str]) -> Any:
    """This pair's measurement; skip when the schedule did not include it."""
    entry = probe.get("pairs", {}).get(f"{pair[0]}|{pair[1]}")
    if entry is None:
        pytest.skip(f"{pair[0]} -> {pair[1]} not measured (pair mode or unreachable node)")
    return entry


_by_source: dict[int, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {}


def source_entries(probe: dict[str, Any], src: str) -> dict[str, Any]:
    """dst -> entry for every measured pair from `src`; skip when there is none. An all-to-all
    check judges one source per result, so the index is built once per probe, not per node."""
    cached = _by_source.get(id(probe))
    if cached is None or cached[0] is not probe:
        index: dict[str, dict[str, Any]] = {}
        for key, entry in probe.get("pairs", {}).items():
            a, _, b = key.partition("|")
            index.setdefault(a, {})[b] = entry
        cached = _by_source[id(probe)] = (probe, index)
    entries = cached[1].get(src)
    if not entries:
        pytest.skip(f"{src}: no pair from it was measured (pair mode or unreachable node)")
    return entries


def targets_text(targets: list[str]) -> str:
    """The targets of a per-source verdict as a short Slurm hostlist."""
    import hostlist

    try:
        text = str(hostlist.collect_hostlist(targets))
    except hostlist.BadHostlist:
        text = ",".join(targets)
    return text if len(text) <= 80 else text[:80].rsplit(",", 1)[0] + f",… ({len(targets)})"
