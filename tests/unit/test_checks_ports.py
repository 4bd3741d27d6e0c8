"""tcp_ports on recorded port verdicts (one result per source node): ephemeral ports named,
the right end blamed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from preflight.checks import check_ports
from tests.faults.recorded import judge

NODES = ["node-1", "node-2", "node-3", "node-4"]


def probe(closed: dict[tuple[str, str], dict[str, str]]) -> dict[str, Any]:
    ports = ["22", "29500", "41000"]
    pairs = {f"{a}|{b}": {p: [closed.get((a, b), {}).get(p, "open"), ""] for p in ports}
             for a in NODES for b in NODES if a != b}
    return {"pairs": pairs, "ephemeral": [41000], "ephemeral_range": [32768, 60999]}


def verdict(found: dict[str, Any], src: str) -> tuple[str, str, str | None]:
    return judge(check_ports.check_tcp_ports, node=SimpleNamespace(name=src), ports_probe=found)


def test_a_filtered_ephemeral_port_says_nccl_needs_the_range() -> None:
    found = probe({(a, "node-3"): {"41000": "filtered"} for a in NODES if a != "node-3"})
    status, message, hint = verdict(found, "node-1")
    assert (status, message) == ("fail", "node-1: TCP 41000 (ephemeral) filtered to node-3 "
                                         "(expected open)")
    assert hint == check_ports.EPHEMERAL_HINT.format(low=32768, high=60999, dst="node-3")
    assert verdict(found, "node-3")[0] == "pass"


def test_one_direction_is_one_way_with_the_hint_on_the_dropping_side() -> None:
    found = probe({("node-2", "node-3"): {"22": "filtered", "29500": "filtered"}})
    status, message, hint = verdict(found, "node-2")
    assert status == "fail" and message.endswith("(expected open) (one-way)")
    assert hint == check_ports.DIRECTION_HINTS["one-way"].format(src="node-2", dst="node-3")
    assert "check node-3's INPUT rules for node-2's address" in str(hint)


def test_all_outbound_failing_points_at_the_source_not_its_peers() -> None:
    every = {"22": "filtered", "29500": "filtered", "41000": "filtered"}
    found = probe({("node-3", b): every for b in NODES if b != "node-3"})
    status, message, hint = verdict(found, "node-3")
    assert status == "fail" and message.endswith("(every connection out of node-3 fails)")
    assert hint == check_ports.DIRECTION_HINTS["source"].format(src="node-3", dst="node-1")
    assert not {"node-1", "node-2", "node-4"} & set(str(hint).replace("'", " ").split())
    assert {verdict(found, peer)[0] for peer in ("node-1", "node-2", "node-4")} == {"pass"}


def test_a_port_the_target_could_not_bind_is_untested_not_refused() -> None:
    from preflight.measure.ports import bound_ports, mark_missing_listeners

    listening = bound_ports('pid 7\nREADY {"22": "listening", "29500": "listening", '
                            '"41000": "in-use"}\n')
    assert listening["41000"] == "in-use"
    found = probe({(a, "node-3"): {"41000": "refused"} for a in NODES if a != "node-3"})
    mark_missing_listeners(found["pairs"], {"node-3": {"address": "x", "ports": listening}})
    assert found["pairs"]["node-1|node-3"]["41000"][0] == "untested"
    assert {verdict(found, n)[0] for n in NODES} == {"pass"}
    still = probe({("node-1", "node-3"): {"29500": "refused"}})  # bound, so really refused
    mark_missing_listeners(still["pairs"], {"node-3": {"address": "x", "ports": listening}})
    assert verdict(still, "node-1")[0] == "fail"
