"""Typed accessors over a node's gathered facts: checks read `node.ulimits.memlock`, not
`node.get("ulimits")`; a fact the gather script did not send reads as None or empty."""

from __future__ import annotations

from preflight.facts import NodeFacts, Space, Ulimits
from preflight.gather import NodeOutcome

FACTS = {
    "hostname": "node-1",
    "hostname_resolves": ["10.0.0.1"],
    "resolve": {"node-2": ["10.0.0.2"], "node-3": {"error": "Name or service not known"}},
    "ulimits": {"memlock": -1, "nofile": 1024},
    "shm": {"path": "/dev/shm", "total_bytes": 64 << 30, "free_bytes": 60 << 30},
    "disks": [{"path": "/", "total_bytes": 100, "free_bytes": 10},
              {"path": "/tmp", "error": "No such file or directory"}],
    "env": {"NCCL_IB_HCA": "mlx5_0", "NCCL_SOCKET_IFNAME": "eth0"},
    "time": 1700000000.5,
    "identity": {"machine_id": "abc", "boot_id": "def"},
    "network": {"sources": {"others": {"10.0.0.1": ["node-2"]}}},
    "fingerprint": {"sshd": {"rc": 0, "stdout": "port 22\n"}},
}


def node(facts: dict[str, object]) -> NodeFacts:
    return NodeFacts(NodeOutcome("node-1", facts=dict(facts)))


def test_accessors_read_what_the_gather_script_sent() -> None:
    found = node(FACTS)
    assert found.ulimits == Ulimits(memlock=-1, nofile=1024)
    assert found.shm == Space("/dev/shm", 64 << 30, 60 << 30)
    assert found.disks == [Space("/", 100, 10), Space("/tmp", error="No such file or directory")]
    assert found.env["NCCL_IB_HCA"] == "mlx5_0"
    assert (found.hostname, found.hostname_resolves) == ("node-1", ["10.0.0.1"])
    assert found.resolve["node-3"] == {"error": "Name or service not known"}
    assert found.clock == 1700000000.5
    assert found.identity == {"machine_id": "abc", "boot_id": "def", "hostname": "node-1"}
    assert found.source_addresses == {"others": {"10.0.0.1": ["node-2"]}}
    assert found.fingerprint("sshd")["stdout"] == "port 22\n"


def test_a_fact_not_sent_is_none_or_empty() -> None:
    found = node({"resolve": None, "network": None})  # a sub-probe that failed sends None
    assert found.ulimits == Ulimits(memlock=None, nofile=None)
    assert found.shm == Space("/dev/shm")
    assert (found.disks, found.env, found.resolve, found.paths) == ([], {}, {}, {})
    assert (found.hostname, found.clock, found.source_addresses) == (None, None, {})
    assert found.fingerprint("firewall") == {}
