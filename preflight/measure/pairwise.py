"""Pairwise bandwidth tests in scheduled rounds, then bad nodes and links retested.

Each node is in at most one test at a time: the scheduler gives rounds of disjoint pairs
and both directions of a pair run one after the other within the round (or once, when the
test itself is bidirectional). A test that errored runs once more. The probe's rule (the
run's expectations) then plans the isolation pass (`preflight.pairjudge.isolation`):
suspect nodes are retested against healthy nodes, then every link still failing is
retested, up to twice. What is recorded is figures and raw outcomes only: the first
measurement (which the matrix shows), the retests per stage and the plan that chose them;
the checks judge the recording under their own expectations (`preflight.pairjudge.judge`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from preflight.fanout import fan_out
from preflight.isolate import link
from preflight.measure.base import ConnectFailure, failure_text, pair_key
from preflight.pairjudge import Entry, Rule, isolation
from preflight.schedule import Pair, directed, pack, parse_mode, rounds

# (src, dst) -> Gbit/s, or an entry {"gbps": slowest, "rails": {...}}; raises on failure.
PairTest = Callable[[str, str], float | dict[str, Any]]


@dataclass(frozen=True)
class PairProbe:
    title: str
    test: PairTest
    plan_rule: Callable[[Mapping[Pair, Entry]], Rule]  # picks the retests, from the first pass
    per_test_s: float
    width: int
    both_ways: bool = True  # False: one bidirectional test per pair, stored both ways


def run_rounds(schedule: list[list[Pair]], probe: PairProbe) -> dict[Pair, Entry]:
    results: dict[Pair, Entry] = {}
    for round_ in schedule:
        for step in _steps(round_, probe.both_ways):
            outcomes = fan_out(step, lambda p: probe.test(p[0], p[1]), max_workers=probe.width,
                               deadline_s=probe.per_test_s * 2 + 30)
            for (src, dst), outcome in outcomes.items():
                results[(src, dst)] = _entry(outcome)
                if not probe.both_ways:
                    results[(dst, src)] = {**results[(src, dst)], "bidirectional": True}
    return results


def _steps(round_: list[Pair], both_ways: bool) -> list[list[Pair]]:
    steps = directed(round_)
    return steps if both_ways else steps[:1]


def _entry(outcome: float | Entry | Exception) -> Entry:
    if isinstance(outcome, ConnectFailure):  # not retried: the network said no
        return {"gbps": None, "error": None, "connect": outcome.as_entry()}
    if isinstance(outcome, Exception):
        return {"gbps": None, "error": failure_text(outcome)}
    if isinstance(outcome, dict):
        return {"error": None, **outcome}
    return {"gbps": round(outcome, 4), "error": None}


def measure_pairs(names: list[str], mode: str, probe: PairProbe) -> dict[str, Any]:
    started = time.monotonic()
    chosen = parse_mode(mode, len(names))
    schedule = rounds(names, chosen, seed=0)
    results = run_rounds(schedule, probe)
    _retry_errors(results, probe)
    rule = probe.plan_rule(results)
    retests: dict[str, dict[str, Entry]] = {}
    plan: dict[str, list[list[str]]] = {}

    def retest(stage: str, pairs: list[Pair]) -> dict[Pair, Entry]:
        again = run_rounds(pack(pairs), probe)
        plan[stage] = [list(p) for p in pairs]
        retests[stage] = {pair_key(*p): e for p, e in again.items()}
        return again

    isolation(results, rule, retest)
    return {
        "tool": probe.title, "mode": str(chosen), "rounds": len(schedule),
        "wall_s": round(time.monotonic() - started, 2), "nodes": names,
        "pairs": {pair_key(*p): e for p, e in results.items()},
        "retests": retests,
        "retest_plan": {"floor_gbps": rule.floor_gbps, "floor_basis": rule.basis, **plan},
    }


def _retry_errors(results: dict[Pair, Entry], probe: PairProbe) -> None:
    """A test that could not run (a server slow to start on a busy node) runs once more;
    its first error stays in the entry."""
    failed = [p for p, e in results.items() if e["error"]]
    if not failed:
        return
    again = run_rounds(pack(dict.fromkeys(link(*p) for p in failed)), probe)
    for pair in failed:
        retry = again.get(pair)
        if retry is not None and not retry["error"]:
            results[pair] = {**retry, "first_error": results[pair]["error"]}
