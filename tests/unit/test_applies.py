"""Checks that apply only under some configuration (preflight.applies): not collected, said
once per run; a default run stays within 40 results per node."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preflight.applies import ONLY_IF, RunSettings, not_applicable, skip_unless_applies, why_not
from preflight.config import Expectations
from preflight.reports.schema import validate_results
from preflight.results import Result, Status, results_per_node
from tests.corpus import require_corpus
from tests.faults.recorded import judge

bench = importlib.import_module("bench.bench_replay")

DEFAULT = RunSettings(Expectations())
ALL_ON = RunSettings(Expectations(persistence_mode=True, nvlink=True, gpudirect=True,
                                  shared_dir="/shared", shared_fs_throughput=True), "mpirun")
# What the profile or preflight.toml sets to make each check apply.
TURNED_ON = {
    "persistence_mode": {"persistence_mode": True}, "nvlink_all_pairs": {"nvlink": True},
    "gpudirect_nic": {"gpudirect": True}, "required_paths": {"require_paths": ["/opt"]},
    "shared_fs_same_mount": {"shared_paths": ["/fsx"]},
    "shared_fs_write_read": {"shared_dir": "/fsx"},
    "shared_fs_throughput": {"shared_paths": ["/fsx"], "shared_fs_throughput": True},
}
MOST_RESULTS_PER_NODE = 40  # issue 13's target for a default run, at any N


def test_a_default_run_rules_out_the_eight_configuration_checks() -> None:
    ruled_out = not_applicable(ONLY_IF, DEFAULT)
    assert list(ruled_out) == ["persistence_mode", "nvlink_all_pairs", "gpudirect_nic",
                               "required_paths", "shared_fs_same_mount",
                               "shared_fs_write_read", "shared_fs_throughput",
                               "launcher_ready"]
    assert ruled_out["persistence_mode"] == "the profile does not require persistence mode"
    assert ruled_out["launcher_ready"] == (
        "launcher ssh: SSH reachability is what the ssh checks test")
    assert not_applicable(ONLY_IF, ALL_ON) == {}
    assert why_not("gpu_count", DEFAULT) is None  # not in the table: applies to every run


@pytest.mark.parametrize("check", sorted(TURNED_ON))
def test_each_check_applies_once_its_setting_is_given(check: str) -> None:
    assert why_not(check, DEFAULT) is not None
    assert why_not(check, RunSettings(Expectations(**TURNED_ON[check]))) is None


def test_conditions_are_judged_in_order_the_first_unmet_one_says_why() -> None:
    paths_only = RunSettings(Expectations(shared_paths=["/fsx"]))
    assert why_not("shared_fs_throughput", DEFAULT) == "no shared_dir or shared_paths configured"
    assert why_not("shared_fs_throughput", paths_only) == (
        "throughput smoke off (--expect shared_fs_throughput=true)")
    assert why_not("launcher_ready", RunSettings(Expectations(), "srun")) is None


def test_every_table_entry_names_a_real_check() -> None:
    checks = Path(__file__).resolve().parents[2] / "checks"
    defined = {line.split("(")[0].removeprefix("def check_")
               for path in checks.glob("check_*.py") for line in path.read_text().splitlines()
               if line.startswith("def check_")}
    assert set(ONLY_IF) <= defined


def test_a_check_run_anyway_skips_with_the_tables_reason() -> None:
    from preflight.checks import check_gpu, check_sharedfs, check_system, check_topology

    expect = Expectations()
    for check in (check_gpu.check_persistence_mode, check_topology.check_nvlink_all_pairs,
                  check_topology.check_gpudirect_nic, check_system.check_required_paths,
                  check_sharedfs.check_shared_fs_same_mount):
        name = check.__name__.removeprefix("check_")
        fixtures: dict[str, Any] = {"node": None, "expect": expect}
        if name == "shared_fs_same_mount":
            fixtures["cluster"] = None
        assert judge(check, **fixtures) == ("skip", why_not(name, DEFAULT), None)
    with pytest.raises(pytest.skip.Exception, match="launcher ssh"):
        skip_unless_applies("launcher_ready", expect)


def test_results_per_node_count_a_pair_for_its_source() -> None:
    results = [Result("a", "memlock", "system", Status.PASS, "n1"),
               Result("b", "iperf3", "bandwidth", Status.PASS, pair=("n1", "n2")),
               Result("c", "iperf3", "bandwidth", Status.PASS, pair=("n2", "n1")),
               Result("d", "hostnames_distinct", "identity", Status.PASS)]
    assert results_per_node(results) == {"n1": 2, "n2": 1}


# A default run, re-judged from a recording as `preflight check --from` does -------------


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the recording, its default-run judgement) of 8 synthetic nodes (bench_replay's
    facts and measurements: the probes it does not record are left out by node id)."""
    bench.CORPUS = require_corpus()  # its iperf3 figure comes from a real -J output
    work = tmp_path_factory.mktemp("replay")
    recorded = work / "recorded"
    recorded.mkdir()
    names = bench.names_for(8)
    faults = bench.Faults(names)
    bench.write_facts_file(recorded, names, faults, work)
    bench.write_measurements(recorded, names, faults)
    rc, *_ = bench.rejudge(recorded, work / "run")
    assert rc == 1  # the injected faults
    return recorded, work / "run"


def test_a_default_run_gives_at_most_40_results_per_node(replay: tuple[Path, Path]) -> None:
    record = json.loads((replay[1] / "results.json").read_text())
    validate_results(record)
    counted = results_per_node(Result.from_dict(r) for r in record["results"])
    assert len(counted) == 8 and max(counted.values()) <= MOST_RESULTS_PER_NODE, counted
    listed = {entry["check"]: entry["reason"] for entry in record["not_applicable"]}
    assert listed == not_applicable(ONLY_IF, DEFAULT)
    assert not any(r["check"] in listed for r in record["results"])  # not once per node


def check_from(recorded: Path, out: Path, *args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "preflight", "check", "--from", str(recorded), "--out",
            str(out), *(f"--deselect={prefix}" for prefix in bench.NOT_RECORDED), *args]
    subprocess.run(argv, capture_output=True, timeout=120, check=False)
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


def test_check_from_decides_again_a_path_the_recording_never_looked_at(
        replay: tuple[Path, Path], tmp_path: Path) -> None:
    """Recorded without shared paths, judged with one: the checks apply now, and say that
    nothing was measured (error, not-measured) rather than pass or miss it."""
    record = check_from(replay[0], tmp_path / "run", "--expect", "shared_dir=/shared")
    by_check: dict[str, set[tuple[str, str | None]]] = {}
    for r in record["results"]:
        by_check.setdefault(r["check"], set()).add((r["status"], r["reason"]))
    assert by_check["required_paths"] == {("error", "not-measured")}
    assert by_check["shared_fs_same_mount"] == {("error", "shared-fs-unknown")}
    assert {status for status, _ in by_check["shared_fs_write_read"]} == {"error"}
    message = next(r["message"] for r in record["results"] if r["check"] == "required_paths")
    assert message.endswith("/shared not looked at when the facts were gathered")
    assert [e["check"] for e in record["not_applicable"]] == [
        "persistence_mode", "nvlink_all_pairs", "gpudirect_nic", "shared_fs_throughput",
        "launcher_ready"]


def test_k_is_an_explicit_choice_the_checks_run_and_skip(replay: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    record = check_from(replay[0], tmp_path / "run", "-k", "persistence_mode or nvlink")
    statuses = {(r["check"], r["status"], r["message"]) for r in record["results"]}
    assert statuses == {("persistence_mode", "skip", why_not("persistence_mode", DEFAULT)),
                        ("nvlink_all_pairs", "skip", why_not("nvlink_all_pairs", DEFAULT))}
    assert len(record["results"]) == 16 and record["not_applicable"] == []
