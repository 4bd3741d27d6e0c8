"""The plugin as pytest users use it: plain `pytest --hostfile`, -k, and xdist (-n)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.helpers import SIM_EXPECT, explain, run_preflight

pytestmark = pytest.mark.cluster


def probe_calls(cluster, name: str) -> int:
    log = cluster.host(name).dir / "calls.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    return sum(1 for line in lines if line == "nvidia-smi -q")


def test_xdist_gathers_once(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    run = run_preflight(*cluster.preflight_args(), "-n", "2", "-k", "gpu or ports",
                        out=tmp_path / "run")
    assert run.rc == 0, explain(run)
    assert {probe_calls(cluster, n) for n in cluster.names} == {1}
    checks = {r["check"] for r in run.results}
    assert {"gpu_count", "tcp_ports"} <= checks
    assert all("gpu" in r["id"] or "ports" in r["id"] for r in run.results)
    ports = json.loads((tmp_path / "run" / "measurements" / "ports.json").read_text())
    assert len(ports["pairs"]) == 6  # measured once, all ordered pairs


def test_plain_pytest_with_hostfile(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(2)
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *cluster.preflight_args(), *SIM_EXPECT, "--out", str(tmp_path / "run"),
         "-k", "gpu_count or ssh_reachable", f"--junitxml={junit}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    text = junit.read_text()
    assert 'classname="node-1"' in text and 'name="gpu.gpu_count"' in text
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {r["check"] for r in record["results"]} == {"gpu_count", "ssh_reachable"}
