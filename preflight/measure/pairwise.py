"""Pairwise bandwidth tests in scheduled rounds, judged, then bad nodes and links retested.

Each node is in at most one test at a time: the scheduler gives rounds of disjoint pairs
and both directions of a pair run one after the other within the round (or once, when the
test itself is bidirectional). A test that errored runs once more. After judging, suspect
nodes are retested against healthy nodes (`preflight.isolate`), then every link still
failing is retested once: a link that passes its retest was a transient dip (load
elsewhere), one that fails again is named. Retests are recorded apart from the first
measurement, which the matrix shows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from preflight.fanout import fan_out
from preflight.isolate import Isolation, confirm, describe, isolate, link, retest_plan
from preflight.measure.base import ConnectFailure, failure_text, pair_key
from preflight.schedule import Pair, directed, pack, parse_mode, rounds
from preflight.verdict import Unavailable, fail, observe

# (src, dst) -> Gbit/s, or an entry {"gbps": slowest, "rails": {...}}; raises on failure.
PairTest = Callable[[str, str], float | dict[str, Any]]
Entry = dict[str, Any]


@dataclass(frozen=True)
class Judge:
    """Whether one measured entry passes, and what the floor was (for the report)."""

    passes: Callable[[Entry], bool]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Floors:
    line_rate_gbps: float | None  # known link speed (config); None: compare with the median
    line_fraction: float
    median_fraction: float

    def floor(self, results: Mapping[Pair, Entry]) -> tuple[float | None, str]:
        if self.line_rate_gbps:
            return self.line_rate_gbps * self.line_fraction, \
                f"{self.line_fraction:g} x line rate {self.line_rate_gbps:g} Gbit/s"
        median = cluster_median(results)
        if median is None:
            return None, "no measurement"
        return median * self.median_fraction, \
            f"{self.median_fraction:g} x cluster median {median:.3g} Gbit/s"

    def judge(self, results: Mapping[Pair, Entry]) -> Judge:
        floor, basis = self.floor(results)

        def passes(entry: Entry) -> bool:
            gbps = entry.get("gbps")
            return gbps is not None and (floor is None or gbps >= floor)

        return Judge(passes, {"floor_gbps": floor, "floor_basis": basis})


def cluster_median(results: Mapping[Pair, Entry]) -> float | None:
    """The median over nodes of each node's median: one slow node in four drags the plain
    median of all pairs halfway down, but not this."""
    per_node: dict[str, list[float]] = {}
    for pair, entry in results.items():
        if entry.get("gbps") is not None:
            for node in pair:
                per_node.setdefault(node, []).append(entry["gbps"])
    if not per_node:
        return None
    return statistics.median(statistics.median(v) for v in per_node.values())


@dataclass(frozen=True)
class PairProbe:
    title: str
    test: PairTest
    judge_for: Callable[[Mapping[Pair, Entry]], Judge]  # from the first pass's results
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
    judge = probe.judge_for(results)
    passed = {p: judge.passes(e) for p, e in results.items()}
    retests: dict[Pair, Entry] = {}
    found = _isolate(results, passed)
    if found.suspect_nodes:
        plan = retest_plan(found, found.healthy)
        found = confirm(found, _retest(pack(plan), probe, judge, retests))
    found, cleared = _retest_links(found, probe, judge, retests)
    passed.update({p: True for p in passed if link(*p) in cleared})
    return {
        "mode": str(chosen), "rounds": len(schedule),
        "wall_s": round(time.monotonic() - started, 2),
        **judge.summary,
        "pairs": {pair_key(*p): {**e, "passed": passed[p]} for p, e in results.items()},
        "retests": {pair_key(*p): e for p, e in retests.items()},
        "suspects": _suspects(found),
        "matrices": {probe.title: _matrix(probe.title, names, results, passed)},
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


def _isolate(results: dict[Pair, Entry], passed: dict[Pair, bool]) -> Isolation:
    measured = {p: ok for p, ok in passed.items() if results[p]["gbps"] is not None}
    values = {p: results[p]["gbps"] for p in measured}
    return isolate(measured, values, failure="slow", unit="Gbit/s")


def _retest(schedule: list[list[Pair]], probe: PairProbe, judge: Judge,
            retests: dict[Pair, Entry]) -> dict[Pair, bool]:
    again = run_rounds(schedule, probe)
    verdicts = {p: judge.passes(e) for p, e in again.items()}
    retests.update({p: {**e, "passed": verdicts[p]} for p, e in again.items()})
    return verdicts


def _retest_links(found: Isolation, probe: PairProbe, judge: Judge,
                  retests: dict[Pair, Entry]) -> tuple[Isolation, set[Pair]]:
    """Retest each failing link once; those that pass are cleared with a note."""
    if not found.bad_links:
        return found, set()
    verdicts = _retest(pack(found.bad_links), probe, judge, retests)
    cleared = {link(*p) for p in found.bad_links
               if all(ok for q, ok in verdicts.items() if link(*q) == link(*p))}
    notes = [n for n in found.notes if not any(_about(n, *p) for p in cleared)]
    notes += [f"link {a}<->{b} was slow once and passed its retest: counted as passed"
              for a, b in sorted(cleared)]
    kept = [p for p in found.bad_links if link(*p) not in cleared]
    return Isolation(found.suspect_nodes, kept, notes, found.healthy, found.failure), cleared


def _about(note: str, a: str, b: str) -> bool:
    """Whether an isolation note is about the link a<->b ("link a->b failed one way...")."""
    return note.startswith((f"link {a}->{b} ", f"link {b}->{a} ", f"link {a}<->{b} ",
                            f"link {a}<->{b}:"))


def _suspects(found: Isolation) -> dict[str, Any]:
    nodes = [s.node for s in found.suspect_nodes if s.confirmed or not s.retested_with]
    return {"nodes": nodes, "links": [list(p) for p in found.bad_links],
            "notes": describe(found)}


def _matrix(title: str, names: list[str], results: dict[Pair, Entry],
            passed: dict[Pair, bool]) -> dict[str, Any]:
    cells = [{"src": s, "dst": d, "value": e["gbps"] if e["gbps"] is not None else
              (e.get("connect") or {}).get("verdict", "error"),
              "status": "pass" if passed[(s, d)] else ("error" if e["error"] else "fail")}
             for (s, d), e in results.items()]
    return {"title": f"{title} (Gbit/s)", "kind": "bandwidth", "unit": "Gbit/s",
            "nodes": names, "cells": cells}


# Reading a probe's output, for the checks ------------------------------------------------


def blame(probe: dict[str, Any], src: str, dst: str) -> str:
    """'; node-3 is the slow node', '; this link only', or '' when isolation said nothing."""
    suspects = probe.get("suspects", {})
    for node in (src, dst):
        if node in suspects.get("nodes", []):
            return f"; {node} is the slow node"
    if [src, dst] in suspects.get("links", []) or [dst, src] in suspects.get("links", []):
        return "; this link only"
    return ""


def node_verdict(probe: dict[str, Any], node: str) -> str | None:
    """The isolation notes naming `node` as slow, or None when it is not a suspect:
    'node-3 (5/5 pairs slow, retested against 2 healthy nodes); node-3: median 0.48 ...'."""
    suspects = probe.get("suspects", {})
    if node not in suspects.get("nodes", []):
        return None
    notes = [n for n in suspects.get("notes", []) if n.startswith((f"{node} (", f"{node}: "))]
    return "; ".join(notes) if notes else f"{node} is slow with several partners"


def unmeasured(probe: dict[str, Any], node: str) -> list[str]:
    """Why none of `node`'s pairs has a measurement (one line per pair), or [] when at
    least one has: without any, its isolation verdict has no evidence to pass on."""
    mine = {key: entry for key, entry in probe.get("pairs", {}).items()
            if node in key.split("|")}
    if not mine or any(entry.get("gbps") is not None for entry in mine.values()):
        return []
    return [f"{key.replace('|', ' -> ')}: "
            f"{entry.get('error') or (entry.get('connect') or {}).get('text', 'not measured')}"
            for key, entry in mine.items()]


def judge_node(probe: dict[str, Any], node: str, hint: str) -> None:
    """The isolation check's verdict for `node`: observed ok, failed with the notes, or an
    error when none of its pairs was measured (no evidence to pass it on)."""
    if errors := unmeasured(probe, node):
        raise Unavailable(f"{node}: none of its {len(errors)} pairs was measured, so it cannot "
                          f"be judged ({errors[0]})", reason="no-measurement",
                          hint="see the pair results for why each test could not run")
    verdict = node_verdict(probe, node)
    observe("slow" if verdict else "ok", expected="ok")
    if verdict:
        fail(verdict, hint=hint)
