"""The sshd burst's mesh round: a node the run lost mid-run (from ib_write_bw, which the
burst runs alongside) is left out, and the round goes on for the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.config import Expectations
from preflight.gather import NodeOutcome
from preflight.inventory import Node
from preflight.measure import burst
from preflight.runctx import RunContext
from preflight.transport.base import ConnectError, FailureKind

NAMES = [f"node-{i}" for i in range(1, 5)]
ADDRESS = {name: f"10.0.0.{i}" for i, name in enumerate(NAMES, start=1)}


class _Transport:
    def close(self) -> None:
        pass


def test_a_node_lost_mid_run_is_left_out_of_the_mesh_round(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(host: str) -> Any:
        if host == "node-3":
            raise ConnectError(host, FailureKind.CONNECT_TIMEOUT, "connection timed out")
        return _Transport()

    ctx = RunContext(nodes=[Node(n) for n in NAMES], expect=Expectations(), run_dir=tmp_path,
                     transport_factory=connect)
    ctx.set_outcomes({n: NodeOutcome(n, facts={"resolve": {m: [ADDRESS[m]] for m in NAMES}})
                      for n in NAMES})
    with pytest.raises(ConnectError):
        ctx.connections.get("node-3")  # the bandwidth probes found it gone
    asked: dict[str, list[str]] = {}

    def sshburst(ctx: RunContext, src: str, name: str, payload: Any, timeout: float) -> Any:
        asked[src] = [target for target, *_ in payload["targets"]]
        return {target: ["ok", "ok"] for target in asked[src]}

    monkeypatch.setattr(burst, "run_script", sshburst)
    found = burst.peer_burst(ctx, burst.peer_sources(NAMES))
    assert "node-3" not in asked and all("node-3" not in t for t in asked.values())
    assert found["node-3"] == {}
    assert found["node-4"] == {"node-2": ["ok", "ok"], "node-1": ["ok", "ok"]}
