"""Session fixtures for the active probes: each measures once per run, only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from preflight.runctx import RunContext


def _probe(run_context: RunContext, name: str,
           compute: Callable[[RunContext], dict[str, Any]]) -> dict[str, Any]:
    if run_context.interrupted:
        pytest.skip("run interrupted")
    return run_context.measure(name, lambda: compute(run_context))


@pytest.fixture(scope="session")
def ports_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.ports import measure_ports

    with run_context.exclusive("master_port"):  # the torch rendezvous binds it too
        return _probe(run_context, "ports", measure_ports)


@pytest.fixture(scope="session")
def mesh_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.mesh import measure_mesh

    return _probe(run_context, "ssh_mesh", measure_mesh)


@pytest.fixture(scope="session")
def mtu_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.mtu import measure_mtu

    return _probe(run_context, "path_mtu", measure_mtu)


@pytest.fixture(scope="session")
def iperf_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.iperf import measure_iperf

    return _probe(run_context, "iperf3", measure_iperf)


@pytest.fixture(scope="session")
def ib_write_bw_probe(run_context: RunContext) -> dict[str, Any]:
    from preflight.measure.rdma import measure_ib_write_bw

    return _probe(run_context, "ib_write_bw", measure_ib_write_bw)


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
