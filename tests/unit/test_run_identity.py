"""Run directories and run ids: nothing recorded by another run is read as this run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight.cli import main
from preflight.config import Expectations
from preflight.errors import UserError
from preflight.gather import NodeOutcome, write_facts
from preflight.inventory import Node
from preflight.lifecycle import new_run_dir
from preflight.runctx import RunContext
from preflight.verdict import Unavailable


def _context(run_dir: Path, *, offline: bool = False, run_id: str = "") -> RunContext:
    ctx = RunContext(nodes=[Node("n1")], expect=Expectations(), run_dir=run_dir,
                     transport_factory=lambda host: None,  # type: ignore[arg-type,return-value]
                     offline=offline)
    if run_id:
        ctx.run_id = run_id
    return ctx


def test_out_holding_a_run_is_refused_and_overwrite_replaces_it_whole(tmp_path: Path) -> None:
    out = tmp_path / "ci"
    (out / "measurements").mkdir(parents=True)
    (out / "facts.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds an earlier run .*--overwrite"):
        new_run_dir(str(out))
    assert (out / "facts.json").exists()
    assert new_run_dir(str(out), overwrite=True) == out.resolve()
    assert list(out.iterdir()) == []


def test_an_empty_or_new_out_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert new_run_dir(str(tmp_path / "empty")) == (tmp_path / "empty").resolve()
    assert new_run_dir(str(tmp_path / "a" / "b")).is_dir()


def test_cli_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results.json").write_text("{}")
    assert main(["run", "--local", "--out", str(tmp_path), "-k", "probe_ran"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds an earlier run" in err


def test_measurement_of_another_run_is_measured_again(tmp_path: Path) -> None:
    earlier = _context(tmp_path, run_id="earlier")
    assert earlier.measure("ports", lambda: {"open": 1})["open"] == 1
    now = _context(tmp_path, run_id="now")
    assert now.measure("ports", lambda: {"open": 2})["open"] == 2
    recorded = json.loads((tmp_path / "measurements" / "ports.json").read_text())
    assert (recorded["open"], recorded["run_id"]) == (2, "now")
    assert now.measure("ports", lambda: {"open": 3})["open"] == 2  # once per run


def test_offline_judging_reads_the_recording_whoever_wrote_it(tmp_path: Path) -> None:
    _context(tmp_path, run_id="recorded").measure("ports", lambda: {"open": 1})
    offline = _context(tmp_path, offline=True)
    assert offline.measure("ports", lambda: pytest.fail("measured offline"))["open"] == 1
    with pytest.raises(Unavailable, match="not measured in the recorded run"):
        offline.measure("iperf3", lambda: {})


def test_facts_of_another_run_are_refused(tmp_path: Path) -> None:
    write_facts(tmp_path / "facts.json", {"n1": NodeOutcome("n1")}, run_id="earlier")
    with pytest.raises(RuntimeError, match="written by another run"):
        _context(tmp_path, run_id="now").outcomes()
    assert set(_context(tmp_path, run_id="earlier").outcomes()) == {"n1"}
    assert set(_context(tmp_path, offline=True).outcomes()) == {"n1"}


def test_lock_files_are_removed(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    ctx.measure("ports", lambda: {})
    with ctx.exclusive("29500"):
        pass
    assert len(list((tmp_path / "measurements").glob(".*.lock"))) == 2
    ctx.remove_locks()
    assert list((tmp_path / "measurements").glob(".*")) == []
