"""Port probe helpers: which ports, how long connects may take, targets without a listener."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from preflight.gather import NodeOutcome
from preflight.measure.ports import (
    CONNECT_TIMEOUT_S,
    connect_timeout,
    ephemeral_ports,
    mark_missing_listeners,
    port_list,
)


def test_port_list_merges_ports_and_ranges() -> None:
    assert port_list([29500, 22], ["10001-10003", "6379"]) == [22, 6379, 10001, 10002, 10003,
                                                               29500]


def test_connect_budget_grows_with_batches_of_256() -> None:
    assert connect_timeout(0) == connect_timeout(256) == CONNECT_TIMEOUT_S + 20
    assert connect_timeout(257) == CONNECT_TIMEOUT_S * 2 + 20
    assert connect_timeout(100 * 1023) == CONNECT_TIMEOUT_S * 400 + 20


def test_a_target_without_listener_is_not_judged_refused() -> None:
    verdicts: dict[str, Any] = {
        "node-1|node-2": {"22": ["open", "198.18.0.12"], "29500": ["refused", "198.18.0.12"]},
        "node-2|node-1": {"22": ["open", "198.18.0.11"], "29500": ["refused", "198.18.0.11"]},
    }
    mark_missing_listeners(verdicts, {"node-2": {"error": "node-2: listener did not start"},
                                      "node-1": {"address": "198.18.0.11"}})
    assert verdicts["node-1|node-2"] == {
        "22": ["open", "198.18.0.12"],
        "29500": ["error", "no listener: node-2: listener did not start"]}
    assert verdicts["node-2|node-1"]["29500"] == ["refused", "198.18.0.11"]


class FactsOnly:
    """The part of a RunContext ephemeral_ports reads."""

    def __init__(self, ranges: dict[str, list[int] | None]) -> None:
        self._outcomes = {name: NodeOutcome(name, facts={"network": {"ephemeral_ports": r}})
                          for name, r in ranges.items()}

    def outcomes(self) -> dict[str, NodeOutcome]:
        return self._outcomes


def test_ephemeral_ports_come_from_the_range_every_node_shares_at_random() -> None:
    ctx: Any = FactsOnly({"a": [32768, 60999], "b": [40000, 40005], "c": None})
    names = ["a", "b", "c"]
    picks = {tuple(ephemeral_ports(ctx, names, [40002])[0]) for _ in range(30)}
    assert all(len(p) == 3 and set(p) <= {40000, 40001, 40003, 40004, 40005} for p in picks)
    assert len(picks) > 1  # chosen per run
    assert ephemeral_ports(ctx, names, [])[1] == [40000, 40005]
    assert ephemeral_ports(FactsOnly({"a": [1, 2], "b": [3, 4]}), ["a", "b"], []) == ([], None)
    assert ephemeral_ports(FactsOnly({"a": None}), ["a"], []) == ([], None)


def test_a_listener_late_on_a_loaded_node_is_started_once_more_with_more_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from preflight.measure import ports
    from preflight.measure.base import RETRY_FACTOR, ProbeError, ProbeTimeout

    calls: list[tuple[str, float]] = []

    def start(ctx: Any, name: str, address: str | None, listened: list[int], lifetime: float,
              ready: float) -> tuple[Any, dict[str, Any]]:
        calls.append((name, ready))
        if name == "node-2" and ready == ports.READY_TIMEOUT_S:
            raise ProbeTimeout(f"{name}: listener did not start within {ready:g} s")
        if name == "node-3" and ready == ports.READY_TIMEOUT_S:
            raise OSError("Timeout opening channel.")  # paramiko's, from a loaded sshd
        if address is None:
            raise ProbeError(f"{name}: no cluster address to listen on")
        return object(), {"address": address}

    monkeypatch.setattr(ports, "_start_listener", start)
    ctx: Any = SimpleNamespace(fanout=4)
    started = ports._start_listeners(ctx, ["node-1", "node-2", "node-3", "node-4"],
                                     {"node-1": "a", "node-2": "b", "node-3": "c",
                                      "node-4": None}, [22], 60.0)
    assert [n for n, o in started.items() if isinstance(o, Exception)] == ["node-4"]
    again = ports.READY_TIMEOUT_S * RETRY_FACTOR
    assert sorted(calls) == [("node-1", 15.0), ("node-2", 15.0), ("node-2", again),
                             ("node-3", 15.0), ("node-3", again), ("node-4", 15.0)]


def test_an_unanswered_connect_is_tried_once_more_with_more_time_before_it_is_filtered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """node-3 lost one SYN (open at the second try); node-4 drops 29500 every time."""
    from preflight.measure import ports
    from preflight.measure.base import RETRY_FACTOR

    calls: list[tuple[str, list[tuple[str, int]], float]] = []

    def connect(ctx: Any, src: str, wanted: list[tuple[str, int]], connect_s: float,
                timeout: float) -> dict[str, Any]:
        calls.append((src, wanted, connect_s))
        first = connect_s == CONNECT_TIMEOUT_S
        return {f"{dst}|{port}": ["filtered", f"no answer in {connect_s:g}s"]
                if (dst, port) == ("node-4", 29500) or (first and src == "node-3")
                else ["open", dst] for dst, port in wanted}

    monkeypatch.setattr(ports, "_connect", connect)
    ctx: Any = SimpleNamespace(fanout=4)
    targets = {"node-3": ["node-4"], "node-4": ["node-3"]}
    verdicts, retried, unanswered = ports._connect_all(ctx, targets, [22, 29500])
    assert verdicts == {"node-3|node-4": {"22": ["open", "node-4"],
                                          "29500": ["filtered", "no answer in 6s"]},
                        "node-4|node-3": {"22": ["open", "node-3"], "29500": ["open", "node-3"]}}
    assert (retried, unanswered) == ([], 2)
    assert calls[2:] == [("node-3", [("node-4", 22), ("node-4", 29500)],
                          CONNECT_TIMEOUT_S * RETRY_FACTOR)]  # after both first passes
