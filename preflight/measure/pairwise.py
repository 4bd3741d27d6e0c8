"""Pairwise bandwidth tests in scheduled rounds, judged, then bad nodes isolated and retested.

Each node is in at most one test at a time: the scheduler gives rounds of disjoint pairs
and both directions of a pair run one after the other within the round.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.fanout import fan_out
from preflight.isolate import confirm, describe, isolate, retest_plan
from preflight.measure.base import failure_text, pair_key
from preflight.schedule import Pair, directed, pack, rounds

PairTest = Callable[[str, str], float]  # (src, dst) -> Gbit/s, raising on failure


@dataclass(frozen=True)
class Floors:
    line_rate_gbps: float | None  # known link speed (config); None: compare with the median
    line_fraction: float
    median_fraction: float

    def floor(self, values: Sequence[float]) -> tuple[float | None, str]:
        if self.line_rate_gbps:
            return self.line_rate_gbps * self.line_fraction, \
                f"{self.line_fraction:g} x line rate {self.line_rate_gbps:g} Gbit/s"
        if not values:
            return None, "no measurement"
        median = statistics.median(values)
        return median * self.median_fraction, \
            f"{self.median_fraction:g} x cluster median {median:.3g} Gbit/s"


def run_rounds(pairs_rounds: list[list[Pair]], test: PairTest, per_test_s: float,
               width: int) -> dict[Pair, dict[str, Any]]:
    results: dict[Pair, dict[str, Any]] = {}
    for round_ in pairs_rounds:
        for step in directed(round_):
            outcomes = fan_out(step, lambda p: test(p[0], p[1]), max_workers=width,
                               deadline_s=per_test_s * 2 + 30)
            for pair, outcome in outcomes.items():
                results[pair] = ({"gbps": None, "error": failure_text(outcome)}
                                 if isinstance(outcome, Exception)
                                 else {"gbps": round(outcome, 4), "error": None})
    return results


def measure_pairs(names: list[str], mode: str, test: PairTest, floors: Floors, *,
                  per_test_s: float, width: int, title: str) -> dict[str, Any]:
    schedule = rounds(names, mode, seed=0)
    results = run_rounds(schedule, test, per_test_s, width)
    floor, basis = floors.floor([r["gbps"] for r in results.values() if r["gbps"]])
    passed = _judge(results, floor)
    measured = {p: ok for p, ok in passed.items() if results[p]["gbps"] is not None}
    found = isolate(measured, {p: r["gbps"] for p, r in results.items() if p in measured},
                    failure="slow", unit="Gbit/s")
    if found.suspect_nodes:
        plan = retest_plan(found, found.healthy)
        retests = run_rounds(pack(plan), test, per_test_s, width)
        found = confirm(found, _judge(retests, floor))
        results.update({p: {**r, "retest": True} for p, r in retests.items()})
        passed = _judge(results, floor)
    return {
        "mode": mode, "rounds": len(schedule), "floor_gbps": floor, "floor_basis": basis,
        "pairs": {pair_key(*p): {**r, "passed": passed[p]} for p, r in results.items()},
        "suspects": {"nodes": [s.node for s in found.suspect_nodes if s.confirmed
                               or not s.retested_with],
                     "links": [list(link) for link in found.bad_links],
                     "notes": describe(found)},
        "matrices": {title: _matrix(title, names, results, passed)},
    }


def _judge(results: dict[Pair, dict[str, Any]], floor: float | None) -> dict[Pair, bool]:
    return {p: r["gbps"] is not None and (floor is None or r["gbps"] >= floor)
            for p, r in results.items()}


def _matrix(title: str, names: list[str], results: dict[Pair, dict[str, Any]],
            passed: dict[Pair, bool]) -> dict[str, Any]:
    cells = [{"src": s, "dst": d, "value": r["gbps"] if r["gbps"] is not None else "error",
              "status": "pass" if passed[(s, d)] else ("error" if r["error"] else "fail")}
             for (s, d), r in results.items() if not r.get("retest")]
    return {"title": f"{title} (Gbit/s)", "kind": "bandwidth", "unit": "Gbit/s",
            "nodes": names, "cells": cells}
