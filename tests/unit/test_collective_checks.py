"""The collectives checks judged on probe results built from recorded rank lines."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from preflight.checks import check_collectives as checks
from preflight.collective.plan import NodePlan, Plan
from preflight.collective.progress import NodeRun
from preflight.collective.settings import TorchSettings
from preflight.collective.torch_probe import assemble
from tests.faults.recorded import judge

SETTINGS = TorchSettings(sizes=(1024, 4096))
NODES = ["a", "b", "c"]
STEPS = ("import", "store", "init", "barrier")


def plan(backend: str = "gloo") -> Plan:
    nodes = [NodePlan(n, i, i, 1, {}, "eth0", "from the cluster address")
             for i, n in enumerate(NODES)]
    return Plan(backend, "test", "a", "10.0.0.1", 29500, nodes, {"z": "no torch"})


def lines(rank: int, node: str, upto: str = "done", wrong: int = 0) -> list[dict[str, Any]]:
    out = [{"rank": rank, "node": node, "step": s, "ok": True} for s in STEPS]
    out.append({"rank": rank, "node": node, "step": "correctness", "ok": True,
                "sum": 3.0 - wrong, "expected": 3.0, "wrong": wrong * 1024})
    out += [{"rank": rank, "node": node, "step": "sweep", "ok": True, "size_bytes": size,
             "time_us": 50.0} for size in SETTINGS.sizes]
    out.append({"rank": rank, "node": node, "step": "done", "ok": True})
    cut = next((i for i, r in enumerate(out) if r["step"] == upto), len(out) - 1)
    return out[:cut] if upto != "done" else out


def fail_line(rank: int, node: str, step: str, error: str) -> dict[str, Any]:
    return {"rank": rank, "node": node, "step": step, "ok": False, "error": error,
            "timed_out": False}


def probe(runs: dict[str, NodeRun], the_plan: Plan | None = None) -> dict[str, Any]:
    return assemble(the_plan or plan(), runs, SETTINGS)


def node(name: str) -> Any:
    return SimpleNamespace(name=name)


def ports_request(ports: dict[str, Any] | None) -> Any:
    """The check's `request`: the ports probe's measurement, or none measured."""
    def value(name: str) -> dict[str, Any]:
        assert name == "ports_probe"
        if ports is None:
            pytest.skip("ports probe not selected")
        return ports

    return SimpleNamespace(getfixturevalue=value)


NO_PORTS = ports_request(None)


def healthy() -> dict[str, NodeRun]:
    return {n: NodeRun(lines(i, n), rc=0) for i, n in enumerate(NODES)}


def test_healthy_probe_passes_and_reports_busbw_per_size() -> None:
    result = probe(healthy())
    for name in NODES:
        assert judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node(name),
                     torch_allreduce=result)[0] == "pass"
        assert judge(checks.check_torch_allreduce, node=node(name),
                     torch_allreduce=result)[0] == "pass"
    assert judge(checks.check_torch_allreduce_busbw, torch_allreduce=result,
                 torch_settings=SETTINGS)[0] == "pass"
    assert [r["size_bytes"] for r in result["sweep"]] == [1024, 4096]


def test_busbw_below_the_floor_names_the_nodes() -> None:
    floor = TorchSettings(sizes=SETTINGS.sizes, busbw_floor_gbps=50.0)
    status, message, hint = judge(checks.check_torch_allreduce_busbw,
                                  torch_allreduce=probe(healthy()), torch_settings=floor)
    busbw = 4096 / 50e-6 / 1e9 * 2 * 2 / 3
    assert status == "fail"
    assert message == (f"all_reduce across 3 ranks on a, b, c: busbw {busbw:.3g} GB/s at "
                       "4 KiB, expected >= 50 GB/s")
    assert hint is not None and "iperf3" in hint


def test_ranks_that_never_reach_the_store_are_named_with_reachability() -> None:
    runs = healthy()
    runs["c"] = NodeRun([*lines(2, "c", "store"),
                         fail_line(2, "c", "store", "DistNetworkError: timed out.")], rc=1)
    runs["a"] = NodeRun([*lines(0, "a", "init"), fail_line(0, "a", "init", "waiting")], rc=1)
    runs["b"] = NodeRun([*lines(1, "b", "init"), fail_line(1, "b", "init", "waiting")], rc=1)
    result = probe(runs)
    result["master_reachable"] = {"address": "10.0.0.1", "port": 29500,
                                  "listener": "listening",
                                  "from": {"c": ["filtered", "no answer in 3s"]}}
    status, message, hint = judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node("c"),
                                  torch_allreduce=result)
    assert status == "fail"
    assert message == (
        "c: rank 2 never reached the rendezvous store: DistNetworkError: timed out; "
        "MASTER_ADDR 10.0.0.1:29500 is on a; from c, MASTER_ADDR 10.0.0.1:29500 is filtered "
        "(no answer in 3s); interface eth0 (GLOO_SOCKET_IFNAME, from the cluster address)")
    assert hint is not None and hint.startswith("a firewall drops TCP 29500 to a")
    for waiting in ("a", "b"):  # waited at init for rank 2: not blamed
        assert judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node(waiting),
                     torch_allreduce=result)[0] == "pass"
        status, message, _ = judge(checks.check_torch_allreduce, node=node(waiting),
                                   torch_allreduce=result)
        assert status == "skip" and "c failed at store" in message
    assert judge(checks.check_torch_allreduce_busbw, torch_allreduce=result,
                 torch_settings=SETTINGS)[0] == "skip"


def test_port_held_by_another_process_on_the_master_is_said() -> None:
    runs = healthy()
    runs["b"] = NodeRun([*lines(1, "b", "store"), fail_line(1, "b", "store", "refused")])
    result = probe(runs)
    result["master_reachable"] = {"address": "10.0.0.1", "port": 29500, "listener": "in-use",
                                  "from": {"b": ["open", "10.0.0.1"]}}
    message = judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node("b"),
                    torch_allreduce=result)[1]
    assert "TCP 29500 on a is held by another process" in message


def test_wrong_sum_fails_the_node_whose_rank_got_it() -> None:
    runs = healthy()
    runs["b"] = NodeRun(lines(1, "b", wrong=1), rc=0)
    result = probe(runs)
    status, message, _ = judge(checks.check_torch_allreduce, node=node("b"),
                               torch_allreduce=result)
    assert (status, message) == ("fail", "b: rank 1: all_reduce sum 2, expected 3 "
                                         "(1024 of 1024 elements wrong)")
    assert judge(checks.check_torch_allreduce, node=node("a"),
                 torch_allreduce=result)[0] == "pass"


def test_a_killed_rank_is_named_not_the_peers_that_noticed() -> None:
    runs = healthy()
    runs["c"] = NodeRun(lines(2, "c")[:-2], rc=-1)
    for rank, name in ((0, "a"), (1, "b")):
        runs[name] = NodeRun([*lines(rank, name)[:-2],
                              fail_line(rank, name, "sweep", "Connection closed by peer")])
    result = probe(runs)
    status, message, hint = judge(checks.check_torch_allreduce, node=node("c"),
                                  torch_allreduce=result)
    assert status == "fail"
    assert message == ("c: rank 2 failed during the all_reduce size sweep: the process was "
                       "killed by a signal, without an error")
    assert hint is not None and "OOM" in hint
    assert [judge(checks.check_torch_allreduce, node=node(n), torch_allreduce=result)[0]
            for n in ("a", "b")] == ["skip", "skip"]


def test_missing_torch_and_skipped_probe_skip_with_a_reason() -> None:
    result = probe(healthy())
    status, message, _ = judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node("z"),
                               torch_allreduce=result)
    assert status == "skip" and "torch is not installed" in message
    status, message, _ = judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node("a"),
                               torch_allreduce={"skipped": "torch is not installed on any node"})
    assert (status, message) == ("skip", "torch.distributed probe not run: torch is not "
                                         "installed on any node")


def test_nccl_interface_picked_is_reported() -> None:
    runs = healthy()
    runs["b"] = NodeRun([*lines(1, "b", "init"), fail_line(1, "b", "init", "NCCL error")],
                        stderr="b:1:1 [0] NCCL INFO Bootstrap : Using ens5:10.0.9.2<0>\n")
    message = judge(checks.check_torch_rendezvous, request=NO_PORTS, node=node("b"),
                    torch_allreduce=probe(runs, plan("nccl")))[1]
    assert message.endswith("interface eth0 (NCCL_SOCKET_IFNAME, from the cluster address); "
                            "NCCL picked bootstrap ens5")


def test_launcher_readiness_verdicts() -> None:
    ready = {"launcher": "mpirun", "nodes": {
        "a": {"answered": True},
        "b": {"answered": True, "alone": True, "blocked_by": ["c"]},
        "c": {"answered": False, "alone": False, "detail": "orted: not found"},
        "d": {"answered": False, "alone": True, "detail": ""},
    }}
    verdicts = {n: judge(checks.check_launcher_ready, node=node(n), launcher_ready=ready)
                for n in "abcd"}
    assert [verdicts[n][0] for n in "abcd"] == ["pass", "pass", "fail", "fail"]
    assert verdicts["c"][1] == ("c: did not answer `mpirun -N 1 --hostfile H hostname`: "
                                "orted: not found")
    assert "answers a launch of its own" in verdicts["d"][1]


def stalled_at_init() -> dict[str, Any]:
    """A gloo init where rank 2 (c) cannot be reached by rank 3 (d): both wait out the
    init deadline; a and b finished init and saw the others go."""
    names = [*NODES, "d"]
    nodes = [NodePlan(n, i, i, 1, {}, "eth0", "from the cluster address")
             for i, n in enumerate(names)]
    the_plan = Plan("gloo", "test", "a", "10.0.0.1", 29500, nodes, {})
    timeout = {"ok": False, "timed_out": True,
               "error": "no progress within the step deadline (30 s)"}
    runs = {n: NodeRun([*lines(i, n, "init"), {"rank": i, "node": n, "step": "init",
                                               **timeout}], rc=3)
            for i, n in ((2, "c"), (3, "d"))}
    for i, n in ((0, "a"), (1, "b")):
        runs[n] = NodeRun([*lines(i, n, "barrier"),
                           fail_line(i, n, "barrier", "Connection closed by peer")], rc=1)
    return probe(runs, the_plan)


def ports(bad: dict[str, str]) -> dict[str, Any]:
    """Port verdicts for every ordered pair of a..d; `bad` {"src|dst": verdict}."""
    names = [*NODES, "d"]
    return {"pairs": {f"{s}|{d}": {"22": ["open", ""], "40000": [bad.get(f"{s}|{d}", "open"), ""]}
                      for s in names for d in names if s != d}}


def rendezvous(result: dict[str, Any], name: str, request: Any) -> tuple[str, str, str | None]:
    return judge(checks.check_torch_rendezvous, node=node(name), torch_allreduce=result,
                 request=request)


def test_a_stall_in_init_blames_the_node_the_ports_probe_points_at_not_its_waiting_peers(
        ) -> None:
    result = stalled_at_init()
    into_c = ports({f"{s}|c": "filtered" for s in ("a", "b", "d")})
    status, message, hint = rendezvous(result, "c", ports_request(into_c))
    assert status == "fail"
    assert ("the TCP ports check finds connections into c failing (the failing pairs point at "
            "its inbound side)") in message
    assert hint is not None and hint.startswith("gloo and NCCL ranks connect")
    status, message, _ = rendezvous(result, "d", ports_request(into_c))
    assert status == "skip"
    assert "timed out in init waiting for their peers' connections; the TCP ports check " \
           "points at c" in message
    assert [rendezvous(result, n, ports_request(into_c))[0] for n in "ab"] == ["pass", "pass"]


def test_a_one_way_drop_blames_the_side_that_drops() -> None:
    result = stalled_at_init()
    d_to_c = ports({"d|c": "filtered"})  # c drops what d opens; c -> d works
    status, message, _ = rendezvous(result, "c", ports_request(d_to_c))
    assert status == "fail" and "(one-way: it drops what d opens to it)" in message
    assert rendezvous(result, "d", ports_request(d_to_c))[0] == "skip"


def test_without_ports_evidence_a_stall_is_said_to_be_unattributable() -> None:
    result = stalled_at_init()
    for request in (NO_PORTS, ports_request(ports({}))):
        status, message, _ = rendezvous(result, "d", request)
        assert status == "fail"
        assert "cannot be told from torch alone: see tcp_ports" in message
