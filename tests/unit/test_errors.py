"""One error root for what users see, and gather's failure kinds with their hints."""

from __future__ import annotations

import json

import pytest

from preflight import cli, verdict
from preflight.checks import check_ssh, check_system
from preflight.errors import PreflightError, UserError
from preflight.fanout import DeadlineExceeded
from preflight.gather import FAILURE_HINTS, GatherFailure, NodeError, NodeOutcome
from preflight.golive.plan import Refused
from preflight.nccl_tests.find import FindError
from preflight.parsers.common import ParseError
from preflight.schedule import ModeError
from preflight.transport.base import ConnectError, FailureKind
from tests.faults.recorded import judge


@pytest.mark.parametrize("error", [UserError, ModeError, ParseError, ConnectError,
                                   DeadlineExceeded, FindError, Refused])
def test_every_error_users_see_has_the_one_root(error: type[Exception]) -> None:
    assert issubclass(error, PreflightError)


@pytest.mark.parametrize(("error", "code"), [
    (UserError("bad --hosts"), 2),
    (ConnectError("node-1", FailureKind.REFUSED, "connection refused"), 2),
    (Refused("NO-GO", ["node-1 failed"]), 1),
])
def test_the_cli_prints_any_preflight_error_as_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: PreflightError, code: int) -> None:
    def boom(args: list[str]) -> int:
        raise error

    monkeypatch.setitem(cli.COMMANDS, "boom", boom)
    assert cli.main(["boom"]) == code
    err = capsys.readouterr().err
    assert err == f"preflight: error: {error}\n"
    assert "Traceback" not in err


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(args: list[str]) -> int:
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "boom", boom)
    with pytest.raises(KeyError):
        cli.main(["boom"])


def test_every_failure_kind_has_its_hint_beside_it() -> None:
    kinds = [*FailureKind, *GatherFailure]
    assert all(kind.hint for kind in kinds)
    assert set(FAILURE_HINTS) == {kind.value for kind in kinds}
    assert NodeError("from-a-newer-version", "x").hint == GatherFailure.UNKNOWN.hint


def test_failure_kinds_are_strings_in_facts_json() -> None:
    outcome = NodeOutcome("node-1", error=NodeError(GatherFailure.PROBE_TRUNCATED, "cut"))
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["error"] == {"kind": "probe-truncated", "detail": "cut"}
    assert NodeOutcome.from_dict("node-1", data).error == outcome.error


def outcome(kind: str) -> NodeOutcome:
    return NodeOutcome("node-1", error=NodeError(kind, "detail"))


@pytest.mark.parametrize("kind", sorted(GatherFailure))
def test_a_node_reached_fails_probe_ran_and_not_ssh_reachable(kind: GatherFailure) -> None:
    reached = kind in (GatherFailure.PYTHON_MISSING, GatherFailure.PROBE_TIMEOUT,
                       GatherFailure.PROBE_FAILED, GatherFailure.PROBE_TRUNCATED)
    ssh = judge(check_ssh.check_ssh_reachable, node_outcome=outcome(kind))
    assert ssh == (("pass", "", None) if reached else
                   ("fail", "node-1: " + kind + ": detail", kind.hint))
    if reached:
        status, message, hint = judge(check_system.check_probe_ran, node_outcome=outcome(kind))
        assert (status, hint, verdict.current().reason) == ("fail", kind.hint, kind)
        assert message == "node-1: probe could not run: detail"
    else:
        with pytest.raises(verdict.Blocked, match=rf"node-1: unreachable \({kind}\): detail"):
            check_system.check_probe_ran(outcome(kind))


def test_an_ssh_failure_names_its_kind_and_hint() -> None:
    ssh = judge(check_ssh.check_ssh_reachable, node_outcome=outcome(FailureKind.AUTH_DENIED))
    assert ssh == ("fail", "node-1: auth-denied: detail", FailureKind.AUTH_DENIED.hint)
