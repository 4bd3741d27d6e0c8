"""The node's own host-key policy (recorded by the mesh from `ssh -G`), judged per node."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight import verdict
from preflight.checks import check_ssh
from preflight.config import Expectations
from preflight.gather import NodeOutcome
from preflight.inventory import Node
from preflight.runctx import RunContext
from tests.faults.recorded import cluster_of, judge

NODE = cluster_of({"node-1": {}}).node("node-1")


def policy(strict: str, known: str = "/root/.ssh/known_hosts") -> dict[str, object]:
    return {"host_key_policies": {"node-1": {"strict_host_key_checking": strict,
                                             "known_hosts": known}}}


@pytest.mark.parametrize(("probe", "status"), [
    (policy("true"), "pass"),
    (policy("ask"), "pass"),  # BatchMode=yes: an unknown key fails the pair instead
    (policy("accept-new"), "pass"),
    (policy("accept-new", "/dev/null"), "warn"),  # every key is new: none is checked
    (policy("false"), "warn"),
    ({"host_key_policies": {"node-1": None}}, "error"),
    ({"host_key_policies": {}}, "skip"),
    ({}, "skip"),
])
def test_host_key_checking_off_is_one_warning(probe: dict[str, object], status: str) -> None:
    assert judge(check_ssh.check_ssh_host_key_checking, node=NODE, mesh_probe=probe)[0] == status
    if status == "warn":
        assert verdict.current().reason == "host-key-checking-off"


SSHD = {"maxstartups": "2:30:2", "maxsessions": "100"}
OK_PEERS = {"node-2": ["ok", "ok"], "node-4": ["ok", "ok"]}


def burst(**entry: object) -> dict[str, object]:
    return {"nodes": {"node-1": entry}}


@pytest.mark.parametrize(("probe", "status"), [
    (burst(answers=["ok"] * 10, peers=OK_PEERS), "pass"),
    (burst(answers=["ok"] * 10), "pass"),  # recorded before the mesh round
    # a peer that could not connect at all: the mesh and ports checks say so
    (burst(answers=["ok"] * 10, peers={"node-2": ["timeout", "timeout"]}), "pass"),
    # a banner slow to come under load is not sshd turning the connection away
    (burst(answers=["ok"] * 8 + ["timeout"] * 2, peers=OK_PEERS), "pass"),
    (burst(answers=["ok"] * 10, peers={"node-2": {"error": "probe timed out"}}), "pass"),
    (burst(skipped="behind ProxyJump node-2"), "skip"),
    (burst(error="deadline"), "error"),
    ({"nodes": {}}, "skip"),
])
def test_burst_without_drops(probe: dict[str, object], status: str) -> None:
    assert judge(check_ssh.check_ssh_burst, node=NODE, ssh_burst_probe=probe)[0] == status


def test_mesh_sources_at_once_fail_naming_maxstartups_when_the_head_cannot_burst() -> None:
    """Behind a ProxyJump the head's round is skipped; the mesh round still finds it."""
    probe = burst(skipped="behind ProxyJump node-2", sshd=SSHD,
                  peers={"node-2": ["ok", "reset"], "node-4": ["closed", "closed"],
                         "node-5": ["ok", "ok"]})
    status, message, hint = judge(check_ssh.check_ssh_burst, node=NODE, ssh_burst_probe=probe)
    assert status == "fail"
    assert message.splitlines()[0] == (
        "node-1: SSH connections opened at once were turned away: 3 of 6 opened at once "
        "from 3 nodes (2 closed, 1 reset; from node-[2,4]) (expected none): sshd "
        "MaxStartups 2:30:2, MaxSessions 100")
    assert hint == check_ssh.BURST_HINT
    assert verdict.current().reason == "sshd-burst"


def test_head_and_mesh_drops_are_told_apart() -> None:
    probe = burst(answers=["ok", "ok"] + ["reset"] * 8, sshd=SSHD,
                  peers={"node-2": ["ok", "exceeded-MaxStartups"]})
    message = judge(check_ssh.check_ssh_burst, node=NODE, ssh_burst_probe=probe)[1]
    assert "8 of 10 opened at once from the head (8 reset); 1 of 2 opened at once from 1 " \
           "nodes (1 exceeded-MaxStartups; from node-2)" in message


def test_peer_sources_are_ring_predecessors_and_linear() -> None:
    from preflight.measure.burst import PEER_SOURCES, peer_sources

    names = [f"n{i}" for i in range(10)]
    sources = peer_sources(names)
    assert sources["n0"] == ["n9", "n8", "n7", "n6"]
    assert all(len(s) == PEER_SOURCES and name not in s for name, s in sources.items())
    outgoing = [src for froms in sources.values() for src in froms]
    assert all(outgoing.count(name) == PEER_SOURCES for name in names)
    assert peer_sources(["a", "b"]) == {"a": ["b"], "b": ["a"]}
    assert peer_sources(["a"]) == {"a": []}


@pytest.mark.parametrize(("level", "mesh_round"), [("quick", False), ("standard", True),
                                                   ("full", True)])
def test_the_burst_mesh_round_runs_from_standard(level: str, mesh_round: bool,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """The mesh round sleeps and holds 8 s on a run's critical path: not in a prolog's
    quick run, which keeps the head's round."""
    from preflight.measure import burst

    ctx = RunContext(nodes=[Node("n1"), Node("n2")], expect=Expectations(level=level),
                     run_dir=tmp_path, transport_factory=lambda host: None)  # type: ignore[arg-type,return-value]
    ctx.set_outcomes({n: NodeOutcome(n, facts={}) for n in ("n1", "n2")})
    rounds: list[str] = []
    monkeypatch.setattr(burst.time, "sleep", lambda seconds: rounds.append("settle"))
    monkeypatch.setattr(burst, "burst_node", lambda c, name: {"answers": ["ok"]})
    monkeypatch.setattr(burst, "peer_burst", lambda c, sources: rounds.append("mesh") or {
        target: {src: ["ok", "ok"] for src in froms} for target, froms in sources.items()})
    measured = burst.measure_ssh_burst(ctx)
    assert rounds == (["settle", "mesh"] if mesh_round else [])
    assert all(("peers" in entry) == mesh_round for entry in measured["nodes"].values())
