"""Ctrl-C mid-run: remote work is stopped, a partial report is written, exit is non-zero."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.helpers import SIM_EXPECT

pytestmark = pytest.mark.cluster


def wait_for(condition, timeout: float) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_sigint_during_measurement(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(), *SIM_EXPECT,
         "--expect", "iperf_seconds=20", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        iperf_running = lambda: any(  # noqa: E731
            "iperf3" in cmd for h in cluster.names for _, cmd in cluster.processes(h))
        assert wait_for(iperf_running, 120), "the iperf3 measurement never started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    record = json.loads((out / "results.json").read_text())
    assert record["partial"] is True and record["verdict"] == "NO-GO"
    assert "partial" in (out / "report.html").read_text().lower()
    assert wait_for(lambda: all(cluster.processes(h) == [] for h in cluster.names), 15), {
        h: cluster.processes(h) for h in cluster.names}
