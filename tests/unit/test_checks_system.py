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


def limits(facts: dict[str, object], nofile: dict[str, int]) -> dict[str, tuple[str, str]]:
    cluster = cluster_of({n: {**facts, "ulimits": {"nofile": v}} for n, v in nofile.items()})
    return {n: judge(check_system.check_nofile, node=cluster.node(n), cluster=cluster,
                     expect=Expectations())[:2] for n in nofile}


def test_open_files_below_the_floor_fails_and_names_the_others(
        facts: dict[str, object]) -> None:
    verdicts = limits(facts, {"node-1": 1048576, "node-2": 1024, "node-3": 1048576})
    assert verdicts["node-2"] == ("fail", "node-2: open-files limit 1024, expected >= 65536 "
                                          "(2 of the other 2 nodes have 1048576)")
    assert verdicts["node-1"][0] == verdicts["node-3"][0] == "pass"
    everywhere = limits(facts, {"node-1": 20000, "node-2": 20000})
    assert {v[0] for v in everywhere.values()} == {"fail"}  # below the floor everywhere


def test_open_files_lower_than_the_others_is_the_odd_one_out(
        facts: dict[str, object]) -> None:
    verdicts = limits(facts, {"node-1": 1048576, "node-2": 65536, "node-3": 1048576,
                              "node-4": -1})
    assert verdicts["node-2"][0] == "warn" and "lower than the others" in verdicts["node-2"][1]
    assert [verdicts[n][0] for n in ("node-1", "node-3", "node-4")] == ["pass"] * 3


@pytest.mark.parametrize(("answer", "status"), [
    (["127.0.1.1"], "fail"), (["127.0.0.1", "::1"], "fail"), (["198.18.0.12"], "pass"),
    (["127.0.1.1", "198.18.0.12"], "pass"), ({"error": "Name or service not known"}, "fail"),
])
def test_own_hostname_resolving_to_loopback_fails(facts: dict[str, object], answer: object,
                                                  status: str) -> None:
    mine = {**facts, "hostname": "n2", "hostname_resolves": answer}
    cluster = cluster_of({"node-1": facts, "node-2": mine})
    verdict, message, hint = judge(check_system.check_hostname_not_loopback,
                                   node=cluster.node("node-2"), cluster=cluster)
    assert verdict == status, message
    if status == "fail":
        assert message.startswith("node-2: its hostname n2 ") and hint == check_system.LOOPBACK_HINT
    alone = cluster_of({"node-2": mine})
    assert judge(check_system.check_hostname_not_loopback, node=alone.node("node-2"),
                 cluster=alone)[0] == "skip"


def test_own_hostname_on_loopback_is_not_also_a_names_finding(facts: dict[str, object]) -> None:
    good = {"node-1": ["198.18.0.11"], "node-2": ["198.18.0.12"]}
    mine = dict(good, **{"node-2": ["127.0.1.1"]})
    cluster = cluster_of({
        "node-1": {**facts, "hostname": "node-1", "resolve": good},
        "node-2": {**facts, "hostname": "node-2", "resolve": mine},
        "node-3": {**facts, "hostname": "node-3", "resolve": good}})
    assert judge(check_system.check_names_resolve, node=cluster.node("node-2"),
                 cluster=cluster)[0] == "pass"


def test_a_node_sending_from_an_address_the_others_do_not_know_fails(
        facts: dict[str, object]) -> None:
    from preflight.checks import check_network

    known = {f"node-{i}": [f"198.18.0.1{i}"] for i in (1, 2, 3)}
    def node(name: str, source: str | None = None) -> dict[str, object]:
        own = known[name][0]  # towards itself: loopback-free, its own address
        sources = {"usual": source or own, "count": 2,
                   "others": {own: [name]} if source else {}}
        return {**facts, "resolve": known, "network": {"sources": sources}}

    cluster = cluster_of({"node-1": node("node-1"), "node-2": node("node-2", "198.19.0.12"),
                          "node-3": node("node-3")})
    status, message, hint = judge(check_network.check_source_address,
                                  node=cluster.node("node-2"), cluster=cluster)
    assert (status, message) == ("fail", "node-2: sends towards 2 nodes from 198.19.0.12, "
                                         "but the other nodes reach it at 198.18.0.12: their "
                                         "replies go to an address it does not answer on")
    assert hint == check_network.SOURCE_HINT
    assert judge(check_network.check_source_address, node=cluster.node("node-1"),
                 cluster=cluster)[0] == "pass"


def disks(facts: dict[str, object], *free: tuple[str, int, int]) -> tuple[str, str, str | None]:
    node = NodeFacts(outcome("node-2", {**facts, "disks": [
        {"path": path, "free_bytes": left, "total_bytes": total} for path, left, total in free]}))
    return judge(check_system.check_disk_free, node=node, expect=Expectations())


def test_a_full_tmp_is_said_to_be_full_with_what_writes_there(facts: dict[str, object]) -> None:
    gib = 1 << 30
    status, message, hint = disks(facts, ("/", 80 * gib, 200 * gib), ("/tmp", 0, 4 << 20))
    assert status == "fail"
    assert message.splitlines()[0] == ("node-2: /tmp full (0.0 MiB free of 4.0 MiB) "
                                       "(expected >= 10 GiB)")
    assert hint == check_system.DISK_FULL_HINT.format(paths="/tmp")
    status, message, hint = disks(facts, ("/", 5 * gib, 200 * gib), ("/tmp", 80 * gib, 0))
    assert (status, hint) == ("fail", check_system.DISK_LOW_HINT)
    assert "low free space: / 5.0 GiB" in message
    assert disks(facts, ("/", 80 * gib, 200 * gib))[0] == "pass"
