"""The fault matrix on recorded facts: every fault that lives in a node's facts gives the
same verdicts through `preflight check --from RUN_DIR` as on the live cluster.

Facts come from the real probe run locally against each host's stand-in tools
(tests/faults/recorded.py): no root, no namespaces, no SSH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight
from tests.faults.cases import CASES, FAULTY, NAMES, FaultCase
from tests.faults.recorded import record_run
from tests.faults.runs import result_key
from tests.sim.spec import HostSpec

# Only the checks that judge gathered facts: a recorded run without measurements has
# nothing for the pairwise ones.
FACT_CHECKS = ("-k", "check_gpu or check_topology or check_fabric or check_system or "
               "check_software or ssh_reachable or probe_ran")
OFFLINE = [pytest.param(case, id=case.id) for case in CASES if case.facts_only]


def specs_for(case: FaultCase | None) -> dict[str, HostSpec]:
    base = HostSpec(**(case.base if case else {}))
    specs = dict.fromkeys(NAMES, base)
    if case is not None:
        specs[FAULTY] = base.replace(**case.change)
    return specs


def test_recorded_healthy_cluster_passes(tmp_path: Path) -> None:
    run_dir = record_run(tmp_path / "recorded", specs_for(None), tmp_path / "hosts")
    run = run_preflight("--from", str(run_dir), *FACT_CHECKS, out=tmp_path / "run",
                        command="check", timeout=120)
    assert run.rc == 0 and run.bad() == [], explain(run)
    assert len([r for r in run.results if r["status"] == "pass"]) >= 6 * 15, explain(run)


def test_a_ci_jobs_pytest_addopts_does_not_reach_the_checks(tmp_path: Path) -> None:
    """PYTEST_ADDOPTS is meant for the job's own tests: `-x` would stop preflight's checks at
    the first fail and `--durations` would print pytest's lines into the findings summary."""
    case = next(c for c in CASES if c.id == "nccl-mismatch")
    run_dir = record_run(tmp_path / "recorded", specs_for(case), tmp_path / "hosts")
    run = run_preflight("--from", str(run_dir), *case.args, *FACT_CHECKS, out=tmp_path / "run",
                        command="check", timeout=120,
                        env={"PYTEST_ADDOPTS": "-x --durations=5 -p no:preflight.plugin"})
    assert {result_key(r): r["status"] for r in run.bad()} == case.expected, explain(run)
    assert "slowest" not in run.stdout and run.rc == 1, explain(run)


@pytest.mark.parametrize("case", OFFLINE)
def test_recorded_fault_gives_the_live_verdict(case: FaultCase, tmp_path: Path) -> None:
    run_dir = record_run(tmp_path / "recorded", specs_for(case), tmp_path / "hosts")
    run = run_preflight("--from", str(run_dir), *case.args, *FACT_CHECKS,
                        out=tmp_path / "run", command="check", timeout=120)
    assert {result_key(r): r["status"] for r in run.bad()} == case.expected, explain(run)
    headline = next(r for r in run.results if result_key(r) == case.headline)
    assert all(fragment in headline["message"] for fragment in case.says), headline
    assert headline["hint"] == case.hint, headline
    assert run.rc == 1


def test_site_check_key_error_names_the_exception(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "check_site_keys.py").write_text(
        "RACKS = {'node-1': 'r1'}\n\n\ndef check_rack(node):\n    assert RACKS[node.name]\n")
    run_dir = record_run(tmp_path / "recorded", specs_for(None), tmp_path / "hosts")
    run = run_preflight("--from", str(run_dir), "--checks", str(site), "-k", "check_rack",
                        out=tmp_path / "run", command="check", timeout=120)
    assert {result_key(r): r["status"] for r in run.bad()} == {
        f"rack[{name}]": "error" for name in NAMES[1:]}, explain(run)
    assert run.of("rack", "node-2")[0]["message"] == "KeyError: 'node-2'"
