"""Gating: --bad-nodes, --fail-on warn, check --from RUN_DIR, junit.xml, schema, examples/.

The cluster tests drive the real CLI against a 4-host simulated cluster with faults
injected for real, then re-judge the recorded run offline after the cluster is gone. The
examples (Slurm batch script, health check, CI YAML) run against stand-in commands.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from preflight.reports.schema import validate_results
from tests.cluster.helpers import Run, explain, run_preflight
from tests.sim.fixtures import leftovers
from tests.sim.spec import GpuState

HOSTS = ["node-1", "node-2", "node-3", "node-4"]
GATING = {"fail", "error", "blocked"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.cluster
def test_bad_nodes_junit_and_offline_recheck(sim_cluster: Any, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    cluster.update_spec("node-2", gpus=7)
    cluster.stop_sshd("node-4")
    bad_file = tmp_path / "bad-nodes.txt"
    run = run_preflight(*cluster.preflight_args(), "--bad-nodes", str(bad_file),
                        out=tmp_path / "run")
    assert run.rc == 1, explain(run)
    assert bad_file.read_text() == "node-2\nnode-4\n"
    assert run.record["bad_nodes"] == ["node-2", "node-4"]
    assert _faults(run) == {("gpu_count", "node-2", "fail"), ("ssh_reachable", "node-4", "fail")}
    validate_results(run.record)
    _assert_junit(run)

    cluster.stop()  # from here on nothing answers: check --from must not need a node
    assert leftovers(cluster.id) == []
    recheck_bad = tmp_path / "recheck-bad-nodes.txt"
    recheck = run_preflight("--from", str(run.run_dir), "--expect", "gpus_per_node=7",
                            "--bad-nodes", str(recheck_bad), out=tmp_path / "recheck",
                            command="check")
    assert recheck.rc == 1, explain(recheck)
    assert recheck.record["thresholds"]["gpus_per_node"] == 7
    counts = {r["node"]: (r["status"], r["measured"]) for r in recheck.of("gpu_count")}
    assert counts == {"node-1": ("fail", 8), "node-2": ("pass", 7), "node-3": ("fail", 8),
                      "node-4": ("blocked", None)}, explain(recheck)
    assert _verdicts(recheck, but="gpu_count") == _verdicts(run, but="gpu_count")
    # node-1 and node-3 now fail gpu_count: half the nodes, a cluster-wide finding (one
    # setting, here the expectation, to change), so only the unreachable node-4 is excluded.
    assert recheck_bad.read_text() == "node-4\n"
    validate_results(recheck.record)
    _assert_junit(recheck)


@pytest.mark.cluster
def test_fail_on_warn_gates_a_warning(sim_cluster: Any, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    throttled = GpuState(throttle=["SW Thermal Slowdown"])
    cluster.update_spec("node-3", gpu_overrides={1: throttled})
    warning = {("clock_throttle", "node-3", "warn")}
    # The node checks a Slurm prolog runs: the gate, not the pairwise probes, is under test.
    select = ("-k", "gpu or system or software")

    lenient_bad = tmp_path / "lenient-bad.txt"
    lenient = run_preflight(*cluster.preflight_args(), *select, "--bad-nodes", str(lenient_bad),
                            out=tmp_path / "lenient")
    assert lenient.rc == 0, explain(lenient)
    assert lenient.bad_summary() == warning, explain(lenient)
    assert (lenient.record["verdict"], lenient.record["fail_on"]) == ("GO", "fail")
    assert lenient_bad.read_text() == ""
    assert "software thermal slowdown" in lenient.of("clock_throttle", "node-3")[0]["message"]
    assert {"gpu", "system", "software"} <= {r["family"] for r in lenient.results}
    assert not any(r["pair"] for r in lenient.results)  # -k left the pairwise probes out

    strict_bad = tmp_path / "strict-bad.txt"
    strict = run_preflight(*cluster.preflight_args(), *select, "--fail-on", "warn",
                           "--bad-nodes", str(strict_bad), out=tmp_path / "strict")
    assert strict.rc == 1, explain(strict)
    assert strict.bad_summary() == warning, explain(strict)
    assert (strict.record["verdict"], strict.record["fail_on"]) == ("NO-GO", "warn")
    assert strict_bad.read_text() == "node-3\n"
    for done in (lenient, strict):
        validate_results(done.record)

    cluster.stop()
    assert leftovers(cluster.id) == []
    regated = run_preflight("--from", str(lenient.run_dir), *select, "--fail-on", "warn",
                            out=tmp_path / "regated", command="check")
    assert regated.rc == 1, explain(regated)
    assert regated.record["verdict"] == "NO-GO"
    assert _verdicts(regated) == _verdicts(lenient)
    validate_results(regated.record)


def _faults(run: Run) -> set[tuple[str, str, str]]:
    """The bad results other than checks blocked by node-4 (asserted to be only node-4's)."""
    blocked = [r for r in run.bad() if r["status"] == "blocked"]
    assert blocked, explain(run)
    assert all("node-4" in (r["pair"] or [r["node"]]) for r in blocked), explain(run)
    return {s for s in run.bad_summary() if s[2] != "blocked"}


def _verdicts(run: Run, but: str = "") -> dict[str, str]:
    return {r["id"]: r["status"] for r in run.results if r["check"] != but}


def _subject(result: dict[str, Any]) -> str:
    if result["pair"]:
        return " -> ".join(result["pair"])
    return str(result["node"] or "cluster")


def _assert_junit(run: Run) -> None:
    """One testcase per result, classname = its node (or pair), gating results as failures."""
    tree = ET.parse(run.run_dir / "junit.xml")
    cases = list(tree.iter("testcase"))
    names = Counter((c.get("classname"), c.get("name")) for c in cases)
    assert len(cases) == len(run.results) and max(names.values()) == 1, names.most_common(3)
    assert {c.get("classname") for c in cases} == {_subject(r) for r in run.results}
    assert {c.get("classname") for c in cases} >= set(HOSTS)

    def key(classname: str | None, name: str | None) -> tuple[str, str]:
        return (str(classname), str(name).partition("[")[0])

    def results(statuses: set[str]) -> Counter[tuple[str, str]]:
        return Counter((_subject(r), f"{r['family']}.{r['check']}")
                       for r in run.results if r["status"] in statuses)

    def junit(*tags: str) -> Counter[tuple[str, str]]:
        return Counter(key(c.get("classname"), c.get("name"))
                       for c in cases if any(c.find(t) is not None for t in tags))

    every = Counter(key(c.get("classname"), c.get("name")) for c in cases)
    assert every == results({"pass", "warn", "fail", "error", "blocked", "skip"})
    assert junit("failure", "error") == results(GATING)
    assert junit("skipped") == results({"skip"})
    record = run.record
    suite = tree.find(".//testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == record["verdict"]
    assert props["hosts"] == ",".join(HOSTS)
    assert props["profile"] == record["profile"]
    assert props["started"] == record["started"]
    assert props["preflight_version"] == record["preflight_version"]
    assert props["partial"] == "false"


# --- examples/ ------------------------------------------------------------------------------

STUB = """#!/bin/bash
echo "$(basename "$0") $* | attempt=${PREFLIGHT_ATTEMPT:-} excluded=${PREFLIGHT_EXCLUDED:-}" \
    >> "$STUB_LOG"
"""
# preflight: write what --bad-nodes/--out ask for, exit with $STUB_RC.
PREFLIGHT_STUB = STUB + """
out=""; bad=""
while [ $# -gt 0 ]; do
  case $1 in --out) out=$2; shift;; --bad-nodes) bad=$2; shift;; esac; shift
done
[ -n "$bad" ] && printf '%s' "$STUB_BAD" > "$bad"
[ -n "$out" ] && mkdir -p "$out" && printf '%s' "$STUB_RESULTS" > "$out/results.json"
exit "$STUB_RC"
"""
SCONTROL_STUB = STUB + """
case "$1 $2" in
  "show hostnames") printf 'node-1\\nnode-2\\nnode-3\\nnode-4\\n';;
  "show job") printf 'JobId=42 JobName=train\\n   Command=/home/me/train.sbatch\\n';;
esac
"""
FAILED = ('{"results": [{"check": "gpu_count", "status": "fail",'
          ' "message": "node-2: GPUs visible: 7, expected 8"}]}')


def _stubs(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {"preflight": PREFLIGHT_STUB, "scontrol": SCONTROL_STUB, "sbatch": STUB,
               "srun": STUB}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _run_example(script: str, tmp_path: Path, rc: int, **env: str) -> tuple[int, list[str]]:
    """Run examples/<script> with stand-in preflight/sbatch/srun/scontrol; (exit, calls)."""
    tmp_path.mkdir(exist_ok=True)
    bin_dir = _stubs(tmp_path)
    log = tmp_path / "calls.log"
    variables = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(log), "STUB_RC": str(rc),
        "STUB_BAD": "node-2\nnode-4\n" if rc else "", "STUB_RESULTS": FAILED if rc else "",
        "PREFLIGHT": str(bin_dir / "preflight"), "PREFLIGHT_OUT": str(tmp_path / "run"),
        "PREFLIGHT_CONFIG": str(tmp_path / "absent.toml"), **env,
    }
    proc = subprocess.run(["bash", str(EXAMPLES / script)], env=variables, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, calls


SLURM_JOB = {"SLURM_JOB_ID": "42", "SLURM_NNODES": "4", "SLURM_JOB_NODELIST": "node-[1-4]"}


def _called(calls: list[str], tool: str) -> list[str]:
    return [c for c in calls if c.startswith(tool + " ")]


def test_sbatch_example_trains_on_go(tmp_path: Path) -> None:
    rc, calls = _run_example("slurm/train.sbatch", tmp_path, 0, **SLURM_JOB)
    assert rc == 0, calls
    (check,) = _called(calls, "preflight")
    assert check.startswith(f"preflight run --slurm --profile dgx-h100 --pairs ring --out "
                            f"{tmp_path / 'run'} --bad-nodes {tmp_path / 'run/bad-nodes.txt'}")
    (train,) = _called(calls, "srun")
    assert "torchrun --nnodes=4 --nproc-per-node=8" in train
    assert "--rdzv-endpoint=node-1:29500 train.py" in train
    assert _called(calls, "sbatch") == []


def test_sbatch_example_stops_on_no_go_and_resubmits_without_bad_nodes(tmp_path: Path) -> None:
    rc, calls = _run_example("slurm/train.sbatch", tmp_path / "first", 1, **SLURM_JOB)
    assert rc == 1 and _called(calls, "srun") == [], calls
    (resubmit,) = _called(calls, "sbatch")
    assert resubmit == ("sbatch --export=ALL --nodes=4 --exclude=node-2,node-4 "
                        "/home/me/train.sbatch | attempt=1 excluded=node-2,node-4")
    rc, calls = _run_example("slurm/train.sbatch", tmp_path / "second", 1, **SLURM_JOB,
                             PREFLIGHT_RETRIES="2", PREFLIGHT_ATTEMPT="1",
                             PREFLIGHT_EXCLUDED="node-9")
    assert rc == 1 and _called(calls, "sbatch") == [
        "sbatch --export=ALL --nodes=4 --exclude=node-9,node-2,node-4 /home/me/train.sbatch | "
        "attempt=2 excluded=node-9,node-2,node-4"], calls
    rc, calls = _run_example("slurm/train.sbatch", tmp_path / "last", 1, **SLURM_JOB,
                             PREFLIGHT_ATTEMPT="1")
    assert rc == 1 and _called(calls, "srun") == [] and _called(calls, "sbatch") == [], calls
    rc, calls = _run_example("slurm/train.sbatch", tmp_path / "broken", 2, **SLURM_JOB)
    assert rc == 2 and _called(calls, "srun") == [] and _called(calls, "sbatch") == [], calls


def test_healthcheck_example_drains_or_fails_the_prolog(tmp_path: Path) -> None:
    reason = "reason=preflight: gpu_count: node-2: GPUs visible: 7, expected 8"
    for case, rc, env in (("go", 0, {}), ("check", 1, {}), ("prolog", 1, SLURM_JOB)):
        code, calls = _run_example("slurm/healthcheck.sh", tmp_path / case, rc,
                                   SLURMD_NODENAME="node-2", **env)
        (check,) = _called(calls, "preflight")
        assert check.startswith(
            "preflight run --local --level quick -k gpu or system --out "), check
        drains = _called(calls, "scontrol")
        if case == "check":  # HealthCheckProgram: drains the node itself, exits 0
            assert code == 0
            assert drains == [f"scontrol update nodename=node-2 state=drain {reason} | "
                              "attempt= excluded="]
        else:  # GO: nothing to do; Prolog: the exit code makes slurmd drain the node
            assert (code, drains) == (rc, []), calls


def test_example_shell_scripts_parse() -> None:
    scripts = sorted(EXAMPLES.rglob("*.sh")) + sorted(EXAMPLES.rglob("*.sbatch"))
    assert len(scripts) == 2
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=10)


def test_ci_examples_gate_on_the_exit_code_and_keep_the_report() -> None:
    yaml = pytest.importorskip("yaml")
    github = yaml.safe_load((EXAMPLES / "ci/github-actions.yml").read_text())
    steps = github["jobs"]["preflight"]["steps"]
    assert any("preflight run" in str(step.get("run")) for step in steps)
    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert {"report.html", "junit.xml"} <= {Path(p).name for p in upload["with"]["path"].split()}
    assert github["jobs"]["submit"]["needs"] == "preflight"

    gitlab = yaml.safe_load((EXAMPLES / "ci/gitlab-ci.yml").read_text())
    job = gitlab["preflight"]
    assert any("preflight run" in line for line in job["script"])
    assert job["artifacts"]["when"] == "always"
    assert {"report.html", "junit.xml"} <= {Path(p).name for p in job["artifacts"]["paths"]}
    assert job["artifacts"]["reports"]["junit"] == "preflight-run/junit.xml"
    assert gitlab["submit"]["needs"] == ["preflight"]
    assert gitlab["stages"].index("preflight") < gitlab["stages"].index("submit")
