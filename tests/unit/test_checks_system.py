"""System checks judged on recorded facts: clock skew against a slow answer, names."""

from __future__ import annotations

import pytest

from preflight.checks import check_system
from preflight.config import Expectations
from preflight.facts import NodeFacts
from tests.faults.recorded import cluster_of, facts_for, judge, outcome
from tests.sim.spec import HostSpec

HINT = "run chrony/ntpd on every node; skewed clocks break timeouts, logs, Kerberos"


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return facts_for(HostSpec(), tmp_path_factory.mktemp("hosts"), ["node-1", "node-2"])


def skew(facts: dict[str, object], offset: float, round_trip: float) -> tuple[str, str]:
    node = NodeFacts(outcome("node-2", dict(facts), clock_offset_s=offset, gather_s=round_trip))
    status, message, hint = judge(check_system.check_clock_skew, node=node,
                                  expect=Expectations())
    assert hint == (HINT if status == "fail" else None)
    return status, message


@pytest.mark.parametrize(("offset", "round_trip", "status"), [
    (-0.05, 0.4, "pass"),
    (+30.0, 0.4, "fail"),  # ahead: a slow answer only makes the offset look smaller
    (+1.2, 5.0, "fail"),
    (-30.0, 0.4, "fail"),
    (-1.6, 0.4, "fail"),  # behind by more than a quick round trip explains
    (-1.6, 2.5, "pass"),  # a loaded head read the answer 2.5 s late: not evidence of skew
])
def test_clock_skew_allows_for_the_round_trip(facts: dict[str, object], offset: float,
                                              round_trip: float, status: str) -> None:
    assert skew(facts, offset, round_trip)[0] == status


def test_clock_skew_message_names_offset_and_limit(facts: dict[str, object]) -> None:
    assert skew(facts, 29.98, 0.4) == (
        "fail", "node-2: clock +29.98 s from the head node (expected within 1 s)")


def test_one_node_resolving_a_name_differently_fails_only_there(
        facts: dict[str, object]) -> None:
    good = {"node-1": ["198.18.0.11"], "node-2": ["198.18.0.12"], "node-3": ["198.18.0.13"]}
    stale = dict(good, **{"node-2": ["198.18.0.250"]})
    answers = {"node-1": good, "node-2": good, "node-3": stale}
    cluster = cluster_of({n: dict(facts, resolve=a) for n, a in answers.items()})
    results = {n: judge(check_system.check_names_resolve, node=cluster.node(n), cluster=cluster)
               for n in answers}
    assert results["node-3"][:2] == (
        "fail", "node-3: node-2 -> 198.18.0.250, others get 198.18.0.12")
    assert results["node-1"][0] == results["node-2"][0] == "pass"
