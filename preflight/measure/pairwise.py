"""Pairwise bandwidth tests in scheduled rounds, then bad nodes and links retested.

Each node is in at most one test at a time: the scheduler gives rounds of disjoint pairs
and both directions of a pair run one after the other within the round (or once, when the
test itself is bidirectional). A test that errored runs once more. The probe's rule (the
run's expectations) then plans the isolation pass (`preflight.pairjudge.isolation`):
suspect nodes are retested against healthy nodes, then every link still failing is
retested, up to twice, beside a pair of healthy nodes; while that pair is slow too (a busy
cluster), up to twice more after a pause. A node lost mid-run (its connection gone and no
new one opens) is not waited out pair after pair: its later pairs are recorded as not
measured, naming it. What is recorded is figures and raw outcomes only: the first
measurement (which the matrix shows), the retests per stage and the plan that chose them;
the checks judge the recording under their own expectations (`preflight.pairjudge.judge`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from preflight.fanout import fan_out
from preflight.isolate import link
from preflight.measure.base import ConnectFailure, failure_text, pair_key
from preflight.pairjudge import BUSY_RETEST_STAGES, Entry, Rule, isolation
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
    # The node a failed test shows lost (None: the test failed, its nodes are still there).
    lost_by: Callable[[Exception], str | None] = lambda error: None
    busy_pause_s: float = 10.0  # before a retest while the healthy pair was slow too


Lost = dict[str, str]  # node -> why it counts as lost


def run_rounds(schedule: list[list[Pair]], probe: PairProbe, lost: Lost) -> dict[Pair, Entry]:
    results: dict[Pair, Entry] = {}
    for round_ in schedule:
        for step in _steps(round_, probe.both_ways):
            runnable = [p for p in step if not _lost_end(p, lost)]
            outcomes: dict[Pair, float | Entry | Exception] = fan_out(
                runnable, lambda p: probe.test(p[0], p[1]), max_workers=probe.width,
                deadline_s=probe.per_test_s * 2 + 30)
            _note_lost(outcomes.values(), probe, lost)
            for pair in step:
                entry = _step_entry(outcomes.get(pair), _lost_end(pair, lost), lost)
                results[pair] = entry
                if not probe.both_ways:
                    results[(pair[1], pair[0])] = {**entry, "bidirectional": True}
    return results


def _note_lost(outcomes: Iterable[object], probe: PairProbe, lost: Lost) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Exception) and (node := probe.lost_by(outcome)):
            lost.setdefault(node, failure_text(outcome))


def _lost_end(pair: Pair, lost: Lost) -> str | None:
    return next((node for node in pair if node in lost), None)


def _step_entry(outcome: float | Entry | Exception | None, gone: str | None,
                lost: Lost) -> Entry:
    """The pair's entry: what it measured, or (not run, or failed with an end lost) that it
    was not measured because of the lost node."""
    if gone is not None and (outcome is None or isinstance(outcome, Exception)):
        return {"gbps": None, "error": f"not measured: {gone} was lost mid-run ({lost[gone]})",
                "lost": gone}
    assert outcome is not None  # every pair without a lost end was run
    return _entry(outcome)


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


def measure_pairs(names: list[str], mode: str, probe: PairProbe,
                  lost: Lost | None = None) -> dict[str, Any]:
    """Every scheduled pair measured; `lost` names the nodes already known lost (it gains
    those lost while measuring)."""
    started = time.monotonic()
    lost = {} if lost is None else lost
    chosen = parse_mode(mode, len(names))
    schedule = rounds(names, chosen, seed=0)
    results = run_rounds(schedule, probe, lost)
    _retry_errors(results, probe, lost)
    rule = probe.plan_rule(results)
    retests: dict[str, dict[str, Entry]] = {}
    plan: dict[str, list[list[str]]] = {}

    def retest(stage: str, pairs: list[Pair]) -> dict[Pair, Entry]:
        if stage in BUSY_RETEST_STAGES:
            time.sleep(probe.busy_pause_s)
        again = run_rounds(pack(pairs), probe, lost)
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


def _retry_errors(results: dict[Pair, Entry], probe: PairProbe, lost: Lost) -> None:
    """A test that could not run (a server slow to start on a busy node) runs once more;
    its first error stays in the entry. A lost node's pairs are not retried."""
    failed = [p for p, e in results.items() if e["error"] and not _lost_end(p, lost)]
    if not failed:
        return
    again = run_rounds(pack(dict.fromkeys(link(*p) for p in failed)), probe, lost)
    for pair in failed:
        retry = again.get(pair)
        if retry is not None and not retry["error"]:
            results[pair] = {**retry, "first_error": results[pair]["error"]}
