"""The reach probes start in the background at collection (once per run), so they run
while the node-local checks are judged; the reach fixture then waits for them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from preflight import fixtures


class Ctx:
    def __init__(self, wanted: set[str]) -> None:
        self.wanted_probes = wanted
        self.reach_runs: dict[str, Any] = {}
        self.burst_run: Any = None


def test_the_selected_reach_probes_start_at_once_in_the_background(
        monkeypatch: pytest.MonkeyPatch) -> None:
    running, release = threading.Barrier(3, timeout=10), threading.Event()

    def probe(ctx: Any) -> dict[str, Any]:
        running.wait()  # both probes and this test meet: they run at the same time
        release.wait(10)
        return {"measured": True}

    for fixture in ("ports_probe", "mesh_probe"):
        monkeypatch.setitem(fixtures.REACH, fixture, (fixture, probe))
    monkeypatch.setattr(fixtures, "measure_once", lambda ctx, name, compute: compute(ctx))
    ctx = Ctx({"node", "ports_probe", "mesh_probe"})
    runs = fixtures.start_reach(ctx)  # type: ignore[arg-type]
    running.wait()  # returned while the probes still run
    assert set(runs) == {"ports_probe", "mesh_probe"} and not any(r.done() for r in runs.values())
    assert fixtures.start_reach(ctx) is runs  # type: ignore[arg-type]  # once per run
    release.set()
    assert [r.result(10) for r in runs.values()] == [{"measured": True}] * 2


def test_nothing_starts_when_no_selected_check_uses_a_reach_probe() -> None:
    assert fixtures.start_reach(Ctx({"node", "iperf_probe"})) == {}  # type: ignore[arg-type]


def test_the_burst_waits_for_reach_probes_another_worker_may_be_measuring(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist the worker that measures the burst may not have started the reach
    probes: it starts them (measure_once then waits for the worker measuring them)."""
    import preflight.measure.burst as burst

    order: list[str] = []

    def reach(ctx: Any) -> dict[str, Any]:
        threading.Event().wait(0.2)
        order.append("reach")
        return {}

    monkeypatch.setitem(fixtures.REACH, "mesh_probe", ("ssh_mesh", reach))
    monkeypatch.setattr(fixtures, "measure_once", lambda ctx, name, compute: compute(ctx))
    monkeypatch.setattr(burst, "measure_ssh_burst", lambda ctx: order.append("burst") or {})
    ctx = Ctx({"mesh_probe", "ssh_burst_probe"})  # no reach probe started in this process
    fixtures.burst_after_reach(ctx)  # type: ignore[arg-type]
    assert order == ["reach", "burst"]


def test_the_burst_starts_once_in_the_background_and_its_checks_wait_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ib_write_bw starts the burst so that its waits pass while RDMA is measured; the
    burst's fixture then takes the same run (a second burst would double the connections
    each sshd sees)."""
    release, bursts = threading.Event(), []

    def burst(ctx: Any) -> dict[str, Any]:
        bursts.append(ctx)
        release.wait(10)
        return {"nodes": {}}

    monkeypatch.setattr(fixtures, "burst_after_reach", burst)
    ctx = Ctx({"ssh_burst_probe", "ib_write_bw_probe"})
    run = fixtures.start_burst(ctx)  # type: ignore[arg-type]
    assert not run.done()  # returned while the burst runs
    assert fixtures.start_burst(ctx) is run  # type: ignore[arg-type]
    release.set()
    assert run.result(10) == {"nodes": {}} and len(bursts) == 1


@pytest.mark.parametrize(("wanted", "burst_at_collection"), [
    ({"ports_probe", "ssh_burst_probe"}, True),  # quick: right after the reach probes
    ({"ports_probe", "ssh_burst_probe", "iperf_probe", "ib_write_bw_probe"}, False),
    ({"ports_probe"}, False),
])
def test_the_burst_starts_at_collection_only_where_no_bandwidth_probe_runs(
        monkeypatch: pytest.MonkeyPatch, wanted: set[str], burst_at_collection: bool) -> None:
    started: list[str] = []
    monkeypatch.setattr(fixtures, "start_reach", lambda ctx: started.append("reach"))
    monkeypatch.setattr(fixtures, "start_burst", lambda ctx: started.append("burst"))
    fixtures.start_probes(Ctx(wanted))  # type: ignore[arg-type]
    assert started == ["reach", "burst"] if burst_at_collection else ["reach"]
