"""The node-side torch script, run here for real (gloo on 127.0.0.1): steps, the fork into
one process per local rank, per-step deadlines, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from preflight.collective.progress import parse_lines
from preflight.collective.torch_probe import node_script

pytest.importorskip("torch")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec(world: int, local: int, rendezvous_s: float = 60.0) -> dict[str, Any]:
    return {"master_addr": "127.0.0.1", "master_port": free_port(), "world_size": world,
            "backend": "gloo", "sizes": [1024, 65536], "iters": 2, "warmup": 1,
            "deadlines": {"import": 120, "rendezvous": rendezvous_s, "step": 60},
            "env": {"GLOO_SOCKET_IFNAME": "lo"}, "node_index": 0,
            "nodes": [{"name": "here", "node_rank": 0, "rank_base": 0,
                       "local_world_size": local, "env": {}}]}


def start(payload: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", node_script(), json.dumps(payload)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(payload: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    proc = start(payload)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, parse_lines(out)


def steps_of(lines: list[dict[str, Any]], rank: int) -> list[str]:
    return [r["step"] for r in lines if r.get("rank") == rank and r["ok"]]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_rank_runs_every_step_with_the_torchrun_env() -> None:
    rc, lines = run(spec(1, 1))
    assert rc == 0, lines
    assert lines[0]["step"] == "launch" and lines[0]["ranks"] == 1
    assert steps_of(lines, 0) == ["import", "store", "init", "barrier", "correctness",
                                  "sweep", "sweep", "done"]
    correctness = next(r for r in lines if r["step"] == "correctness")
    assert (correctness["sum"], correctness["expected"], correctness["wrong"]) == (0, 0, 0)
    sweep = [r for r in lines if r["step"] == "sweep"]
    assert [r["size_bytes"] for r in sweep] == [1024, 65536]
    assert all(r["busbw_gbps"] == 0 and r["algbw_gbps"] > 0 for r in sweep)  # n=1: no bus


def test_two_local_ranks_fork_and_sum_their_ranks() -> None:
    rc, lines = run(spec(2, 2))
    assert rc == 0, lines
    for rank in (0, 1):
        assert steps_of(lines, rank)[-1] == "done"
        correctness = next(r for r in lines if r["step"] == "correctness" and r["rank"] == rank)
        assert (correctness["sum"], correctness["wrong"]) == (1.0, 0)
    pids = {r["pid"] for r in lines if "rank" in r}
    assert len(pids) == 2 and lines[0]["pid"] not in pids


def test_a_missing_rank_ends_the_rendezvous_at_its_deadline() -> None:
    rc, lines = run(spec(2, 1, rendezvous_s=3))
    assert rc != 0
    failure = lines[-1]
    assert (failure["rank"], failure["step"], failure["ok"]) == (0, "init", False), lines
    assert steps_of(lines, 0) == ["import", "store"]


def test_term_stops_the_forked_ranks_too() -> None:
    proc = start(spec(3, 2))  # the third rank never comes: both wait in init
    assert proc.stdout is not None
    waiting: list[dict[str, Any]] = []
    while len([r for r in waiting if r["step"] == "store"]) < 2:
        line = proc.stdout.readline()
        assert line, "the node script ended before both ranks reached the store"
        waiting += parse_lines(line)
    children = {r["pid"] for r in waiting if "rank" in r}
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    end = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in children)
