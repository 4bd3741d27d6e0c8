"""--drain / --undrain: which nodes, which scontrol lines, and the brake."""

from __future__ import annotations

import pytest

from preflight.drain import Plan, nodes_to_drain, plan, report_lines
from preflight.errors import UserError
from preflight.findings import exclude_limit
from preflight.results import Result, RunRecord, Status

HOSTS = [f"n{i}" for i in range(1, 11)]


def _record(*bad: Result) -> RunRecord:
    good = [Result(id=f"x[{h}]", check="gpu_count", family="gpu", status=Status.PASS, node=h)
            for h in HOSTS]
    return RunRecord("1", [], "now", hosts=HOSTS, results=[*good, *bad])


def _fail(check: str, node: str | None = None, pair: tuple[str, str] | None = None,
          reason: str | None = "gpu-missing") -> Result:
    return Result(id=f"{check}[{node}]", check=check, family="x", status=Status.FAIL,
                  node=node, pair=pair, reason=reason)


def test_a_bad_node_is_drained_with_its_first_check_and_reason() -> None:
    record = _record(_fail("gpu_count", "n3"), _fail("memlock", "n3", reason="memlock-low"))
    assert nodes_to_drain(record) == {"n3": "preflight: gpu_count: gpu-missing"}
    found = plan(record, True, False, "10%", {})
    assert [" ".join(c) for c in found.commands()] == [
        "scontrol update nodename=n3 state=drain reason=preflight: gpu_count: gpu-missing"]
    assert report_lines(found, "dry-run", [])[1] == (
        "scontrol update nodename=n3 state=drain 'reason=preflight: gpu_count: gpu-missing'")


def test_the_brake_drains_nothing_past_max_exclude() -> None:
    record = _record(_fail("gpu_count", "n1"), _fail("gpu_count", "n2"))
    braked = plan(record, True, False, "10%", {})
    assert braked.drain == {} and "not draining 2 of 10 nodes" in braked.braked
    assert "more than --max-exclude allows (1)" in braked.braked
    assert set(plan(record, True, False, "2", {}).drain) == {"n1", "n2"}


def test_undrain_resumes_only_preflight_drains_that_pass_now() -> None:
    record = _record(_fail("gpu_count", "n4"))
    drained = {"n2": "preflight: gpu_count: gpu-missing", "n4": "preflight: gpu_count: x",
               "n5": "admin: bad fan"}
    found = plan(record, False, True, "10%", drained)
    assert found.resume == ["n2"] and found.drain == {}
    assert found.commands() == [["scontrol", "update", "nodename=n2", "state=resume"]]


def test_already_drained_nodes_are_not_drained_again() -> None:
    record = _record(_fail("gpu_count", "n4"))
    assert plan(record, True, False, "10%", {"n4": "admin: x"}) == Plan()


def test_max_exclude_is_a_count_or_a_share() -> None:
    assert exclude_limit("10%", 10) == 1 and exclude_limit("10%", 4) == 1
    assert exclude_limit("25%", 100) == 25 and exclude_limit("3", 100) == 3
    for bad in ("ten", "-1", "150%"):
        with pytest.raises(UserError, match="--max-exclude"):
            exclude_limit(bad, 10)
