"""Launcher readiness: which node printed its hostname, and who is to blame when none did."""

from __future__ import annotations

from preflight.collective.launch import LocalResult
from preflight.collective.readiness import alone_record, answered, hostname_aliases, settle
from preflight.facts import ClusterFacts
from preflight.gather import NodeOutcome

ORTE_HELP = """orted: error while loading shared libraries: libopen-rte.so.40: cannot open
--------------------------------------------------------------------------
ORTE was unable to reliably start one or more daemons.
This usually is caused by:
"""


def aliases() -> dict[str, str]:
    outcomes = {"gpu-1": NodeOutcome("gpu-1", facts={"hostname": "gpu-1.cluster.local"}),
                "10.0.0.2": NodeOutcome("10.0.0.2", facts={"hostname": "gpu-2"})}
    return hostname_aliases(ClusterFacts(outcomes), list(outcomes))


def ran(stdout: str = "", stderr: str = "", rc: int | None = 0) -> LocalResult:
    return LocalResult(stdout, stderr, rc, False)


def test_hostnames_map_back_to_inventory_names() -> None:
    names = aliases()
    assert names["gpu-1.cluster.local"] == names["gpu-1"] == "gpu-1"
    assert names["gpu-2"] == "10.0.0.2"
    assert answered(ran("gpu-2\ngpu-1.cluster.local\nnoise\n"), names) == {"gpu-1", "10.0.0.2"}


def test_a_node_that_cannot_start_alone_is_named_with_the_launchers_first_cause() -> None:
    record = alone_record("gpu-1", ran(stderr=ORTE_HELP, rc=127), aliases())
    assert record == {"answered": False, "alone": False,
                      "detail": "orted: error while loading shared libraries: "
                                "libopen-rte.so.40: cannot open"}
    assert alone_record("gpu-1", ran("gpu-1\n"), aliases()) == {
        "answered": False, "alone": True, "detail": ""}
    timed_out = alone_record("gpu-1", LocalResult("", "", None, True), aliases())
    assert timed_out["detail"] == "timed out"
    missing = alone_record("gpu-1", LocalResult("", "", None, False, "mpirun: not found"),
                           aliases())
    assert missing["detail"] == "mpirun: not found"


def test_nodes_that_start_alone_are_fine_when_another_node_broke_the_launch() -> None:
    alone = {"a": {"answered": False, "alone": True, "detail": ""},
             "c": {"answered": False, "alone": False, "detail": "orted: not found"}}
    nodes = settle({"b"}, alone)
    assert nodes == {"b": {"answered": True},
                     "a": {"answered": True, "alone": True, "detail": "", "blocked_by": ["c"]},
                     "c": alone["c"]}


def test_nodes_that_only_fail_together_stay_unanswered() -> None:
    alone = {"a": {"answered": False, "alone": True, "detail": ""}}
    assert settle({"b"}, alone)["a"] == alone["a"]


def test_the_cause_passes_over_mpiruns_setpgid_warning() -> None:
    stderr = ("[vm:08480] plm:rsh: Warning: setpgid(8496,8496) failed in parent with "
              "errno=Permission denied(13)\n" + ORTE_HELP)
    record = alone_record("gpu-1", ran(stderr=stderr, rc=127), aliases())
    assert record["detail"].startswith("orted: error while loading shared libraries"), record
