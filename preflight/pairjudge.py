"""Judging a recorded pairwise bandwidth measurement (iperf3, ib_write_bw) at check time.

`preflight.measure.pairwise` records each pair's figures and raw outcome, the retests it
ran and the plan that chose them, never a verdict. Here the current expectations give a
`Rule` (a floor and what passes it), and `judge` turns the recording into per-pair
verdicts, isolation (suspect nodes and bad links, confirmed or cleared by the recorded
retests), the floor shown and the report's matrix. `preflight check --from RUN` therefore
re-judges a recording under another profile or `--expect`. The measurement runs the same
`isolation` with the run's own rule to choose what to retest, running the retests where
the check reads them from the recording.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from preflight import isolate as iso
from preflight.config import Expectations
from preflight.isolate import Isolation, link
from preflight.measure.rails import Settings, rail_floor, settings_from
from preflight.results import Status
from preflight.schedule import Pair
from preflight.verdict import Unavailable, fail, observe

Entry = dict[str, Any]
# A retest stage ("nodes": suspects against healthy nodes, "links": failing links once
# more, "links-again": those still failing, then "links-later" and "links-last" while the
# cluster was busy) and its plan -> the entries measured, per directed pair.
Retest = Callable[[str, list[Pair]], Mapping[Pair, Entry]]


@dataclass(frozen=True)
class Rule:
    """What passes, and the floor to show for it."""

    passes: Callable[[Entry], bool]
    floor_gbps: float | None = None
    basis: str = ""


@dataclass(frozen=True)
class Floors:
    """iperf3's floor: a fraction of the known line rate, else of the cluster's median."""

    line_rate_gbps: float | None
    line_fraction: float
    median_fraction: float

    @classmethod
    def of(cls, expect: Expectations) -> Floors:
        return cls(expect.nic_gbps, expect.iperf_line_rate_fraction,
                   expect.iperf_median_fraction)

    def rule(self, results: Mapping[Pair, Entry]) -> Rule:
        floor, basis = self.floor(results)

        def passes(entry: Entry) -> bool:
            gbps = entry.get("gbps")
            return gbps is not None and (floor is None or gbps >= floor)

        return Rule(passes, floor, basis)

    def floor(self, results: Mapping[Pair, Entry]) -> tuple[float | None, str]:
        if self.line_rate_gbps:
            return self.line_rate_gbps * self.line_fraction, \
                f"{self.line_fraction:g} x line rate {self.line_rate_gbps:g} Gbit/s"
        median = cluster_median(results)
        if median is None:
            return None, "no measurement"
        return median * self.median_fraction, \
            f"{self.median_fraction:g} x cluster median {median:.3g} Gbit/s"


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


def slow_rails(rails: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The ib_write_bw rails that failed or stayed below their floor under `settings`."""
    return {dev: r for dev, r in rails.items()
            if r["gbps"] is None or r["gbps"] < rail_floor(r["port_rate_gbps"], settings)}


def rails_rule(settings: Settings) -> Rule:
    """Every rail reached its floor (floors are per rail, from port rates: the cluster's
    values do not move them)."""
    return Rule(lambda e: bool(e.get("rails")) and not slow_rails(e["rails"], settings))


# The isolation pass, shared by the measurement (planning) and the checks (verdicts) -----


def isolation(results: Mapping[Pair, Entry], rule: Rule,
              retest: Retest) -> tuple[dict[Pair, bool], Isolation]:
    """Per-pair verdicts after retests, and which nodes and links are to blame."""
    passed = {p: rule.passes(e) for p, e in results.items()}
    measured = {p: ok for p, ok in passed.items() if results[p].get("gbps") is not None}
    found = iso.isolate(measured, {p: results[p]["gbps"] for p in measured}, failure="slow",
                    unit="Gbit/s")
    if found.suspect_nodes:
        plan = iso.retest_plan(found, found.healthy)
        found = iso.confirm(found, _verdicts(retest("nodes", plan), rule))
    slow = {p for p, ok in measured.items() if not ok}
    found, cleared = _retest_links(found, rule, retest, slow)
    passed.update({p: True for p in measured if link(*p) in cleared})
    return passed, found


def _verdicts(entries: Mapping[Pair, Entry], rule: Rule) -> dict[Pair, bool]:
    return {p: rule.passes(e) for p, e in entries.items()}


# A failing link is retested up to twice: on a busy cluster (or a simulated one sharing its
# cores) a healthy link can dip below the floor twice in a row; one slow in all three runs
# is slow. Each retest measures a pair of healthy nodes beside the links; while that pair
# is below the floor too, the cluster was busy and the verdict says nothing about the
# link: up to two more retests follow, each after a pause (PairProbe.busy_pause_s).
LINK_RETEST_STAGES = ("links", "links-again")
BUSY_RETEST_STAGES = ("links-later", "links-last")


def _retest_links(found: Isolation, rule: Rule, retest: Retest,
                  slow: set[Pair]) -> tuple[Isolation, set[Pair]]:
    """Each failing link retested (see above): those that pass a retest were a transient
    dip (load elsewhere) and are cleared with a note; those that fail every time are named.
    `slow`: the directions measured below the floor in the first pass."""
    cleared = _links_cleared(found, rule, retest, slow)
    if not cleared:
        return found, cleared
    notes = [n for n in found.notes if not any(_about(n, *p) for p in cleared)]
    notes += [f"link {a}<->{b} was slow, then passed a retest: counted as passed"
              for a, b in sorted(cleared)]
    kept = [p for p in found.bad_links if link(*p) not in cleared]
    return Isolation(found.suspect_nodes, kept, notes, found.healthy, found.failure), cleared


def _links_cleared(found: Isolation, rule: Rule, retest: Retest, slow: set[Pair]) -> set[Pair]:
    cleared: set[Pair] = set()
    reference = [(found.healthy[0], found.healthy[1])] if len(found.healthy) >= 2 else []
    busy = False  # the healthy pair beside the last retest was slow too
    for stage in (*LINK_RETEST_STAGES, *BUSY_RETEST_STAGES):
        failing = [p for p in found.bad_links if link(*p) not in cleared]
        if not failing or (stage in BUSY_RETEST_STAGES and not busy):
            break
        verdicts = _measured_verdicts(retest(stage, failing + reference), rule)
        cleared |= _passed_links(failing, slow, verdicts)
        busy = not all(verdicts.get(q, True) for a, b in reference for q in ((a, b), (b, a)))
    return cleared


def _measured_verdicts(entries: Mapping[Pair, Entry], rule: Rule) -> dict[Pair, bool]:
    """Verdicts of the retests that measured a figure. A direction that could not connect
    says nothing about speed (the connection checks name it), as in the first pass: a
    slow link into a firewalled node would otherwise never be cleared by its retest."""
    return {p: rule.passes(e) for p, e in entries.items() if e.get("gbps") is not None}


def _passed_links(failing: list[Pair], slow: set[Pair],
                  verdicts: Mapping[Pair, bool]) -> set[Pair]:
    """The links among `failing` whose slow directions were measured again and passed,
    with no direction measured slow in the retest."""
    slow_ways, retested = _by_link(slow), _by_link(verdicts)
    cleared = set()
    for key in {link(*p) for p in failing}:
        again = {q: verdicts[q] for q in retested.get(key, ())}
        wanted = slow_ways.get(key) or set(again)
        if wanted and wanted <= set(again) and all(again.values()):
            cleared.add(key)
    return cleared


def _by_link(pairs: Iterable[Pair]) -> dict[Pair, set[Pair]]:
    ways: dict[Pair, set[Pair]] = {}
    for pair in pairs:
        ways.setdefault(link(*pair), set()).add(pair)
    return ways


def _about(note: str, a: str, b: str) -> bool:
    """Whether an isolation note is about the link a<->b ("link a->b failed one way...")."""
    return note.startswith((f"link {a}->{b} ", f"link {b}->{a} ", f"link {a}<->{b} ",
                            f"link {a}<->{b}:"))


# Judging a recording -------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    rule: Rule
    passed: dict[str, bool]  # "src|dst" -> verdict, after retests
    suspects: dict[str, Any]  # {"nodes": [...], "links": [[a, b]], "notes": [...]}


_judged: dict[tuple[int, Hashable], tuple[object, Judged]] = {}


def judge(recording: dict[str, Any], expect: Expectations) -> Judged:
    """A recording judged under `expect`, once per recording and rule parameters (a check
    runs once per pair: judging every pair each time would cost N^2 per pair)."""
    params = _params(recording, expect)
    key = (id(recording), params)
    hit = _judged.get(key)
    if hit is None or hit[0] is not recording:
        hit = _judged[key] = (recording, _judge(recording, params))
    return hit[1]


def _params(recording: dict[str, Any], expect: Expectations) -> Floors | Settings:
    if recording.get("tool") == "ib_write_bw":
        return rail_settings(recording, expect)
    return Floors.of(expect)


def rail_settings(recording: dict[str, Any], expect: Expectations) -> Settings:
    """ib_write_bw's floors from `expect`; how the rails were measured (one way or both at
    once) from the recording."""
    return replace(settings_from(expect), bidirectional=bool(recording.get("bidirectional")))


def _judge(recording: dict[str, Any], params: Floors | Settings) -> Judged:
    results = {_pair(k): e for k, e in recording.get("pairs", {}).items()}
    rule = params.rule(results) if isinstance(params, Floors) else rails_rule(params)
    passed, found = isolation(results, rule, recorded_retests(recording))
    return Judged(rule, {_key(p): ok for p, ok in passed.items()}, suspects_of(found))


def recorded_retests(recording: dict[str, Any]) -> Retest:
    """The retests a recording holds, read in place of running them. A plan asking for a
    pair the measurement did not retest (its own floor planned otherwise) gets nothing:
    a suspect stays unconfirmed, a link stays failing."""
    stages = recording.get("retests") or {}
    if any("|" in key for key in stages):  # recorded before the stages: one flat dict
        stages = {"nodes": stages, "links": stages}

    def read(stage: str, plan: list[Pair]) -> dict[Pair, Entry]:
        entries = stages.get(stage) or {}
        wanted = {q for p in plan for q in (p, (p[1], p[0]))}
        return {q: entries[_key(q)] for q in wanted if _key(q) in entries}

    return read


def suspects_of(found: Isolation) -> dict[str, Any]:
    nodes = [s.node for s in found.suspect_nodes if s.confirmed or not s.retested_with]
    return {"nodes": nodes, "links": [list(p) for p in found.bad_links],
            "notes": iso.describe(found)}


def _pair(key: str) -> Pair:
    src, _, dst = key.partition("|")
    return src, dst


def _key(pair: Pair) -> str:
    return f"{pair[0]}|{pair[1]}"


JUDGED_PAIRWISE = ("iperf3", "ib_write_bw")  # the measurements judged here, by name


def report_view(tool: str, recording: dict[str, Any], expect: Expectations) -> dict[str, Any]:
    """The report's matrix and suspects of a pairwise recording, judged under `expect`."""
    if not recording.get("pairs"):
        return {}
    judged = judge(recording, expect)
    cells = [{"src": s, "dst": d, "value": e["gbps"] if e.get("gbps") is not None else
              (e.get("connect") or {}).get("verdict", "error"),
              "status": Status.PASS if judged.passed[k] else (
                  Status.ERROR if e.get("error") else Status.FAIL)}
             for k, e in recording.get("pairs", {}).items() for s, d in [_pair(k)]]
    matrix = {"title": f"{tool} (Gbit/s)", "kind": "bandwidth", "unit": "Gbit/s",
              "nodes": recording.get("nodes") or _nodes(recording), "cells": cells}
    return {"matrices": {tool: matrix}, "suspects": judged.suspects}


def _nodes(recording: dict[str, Any]) -> list[str]:
    named = {node for key in recording.get("pairs", {}) for node in _pair(key)}
    return sorted(named, key=iso.natural_key)


# What the checks say -------------------------------------------------------------------


def blame(judged: Judged, src: str, dst: str) -> str:
    """'; node-3 is the slow node', '; this link only', or '' when isolation said nothing."""
    for node in (src, dst):
        if node in judged.suspects["nodes"]:
            return f"; {node} is the slow node"
    links = judged.suspects["links"]
    return "; this link only" if [src, dst] in links or [dst, src] in links else ""


def node_verdict(judged: Judged, node: str) -> str | None:
    """The isolation notes naming `node` as slow, or None when it is not a suspect:
    'node-3 (5/5 pairs slow, retested against 2 healthy nodes); node-3: median 0.48 ...'."""
    if node not in judged.suspects["nodes"]:
        return None
    notes = [n for n in judged.suspects["notes"] if n.startswith((f"{node} (", f"{node}: "))]
    return "; ".join(notes) if notes else f"{node} is slow with several partners"


def unmeasured(recording: dict[str, Any], node: str) -> list[str]:
    """Why none of `node`'s pairs has a measurement (one line per pair), or [] when at
    least one has: without any, its isolation verdict has no evidence to pass on."""
    mine = {key: entry for key, entry in recording.get("pairs", {}).items()
            if node in key.split("|")}
    if not mine or any(entry.get("gbps") is not None for entry in mine.values()):
        return []
    return [f"{key.replace('|', ' -> ')}: "
            f"{entry.get('error') or (entry.get('connect') or {}).get('text', 'not measured')}"
            for key, entry in mine.items()]


def judge_node(recording: dict[str, Any], expect: Expectations, node: str, hint: str) -> None:
    """The isolation check's verdict for `node`: observed ok, failed with the notes, or an
    error when none of its pairs was measured (no evidence to pass it on)."""
    if errors := unmeasured(recording, node):
        raise Unavailable(f"{node}: none of its {len(errors)} pairs was measured, so it cannot "
                          f"be judged ({errors[0]})", reason="no-measurement",
                          hint="see the pair results for why each test could not run")
    verdict = node_verdict(judge(recording, expect), node)
    observe("slow" if verdict else "ok", expected="ok")
    if verdict:
        fail(verdict, hint=hint)
