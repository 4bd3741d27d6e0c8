"""How long the bandwidth probes take when a firewall drops their ports into one host.

A 4-host simulated cluster; `preflight run -k "iperf3 or ib_write_bw"` once healthy and
once with iptables DROP on node-3's iperf3 (5201) and ib_write_bw (18515-18522) ports.
Before issue 18 each dropped connect waited for the kernel's SYN retries (about two
minutes); now a connect unanswered for 3 s is failed as "TCP 5201 filtered into node-3".
Needs root, like the cluster tests.

Run: python bench/bench_connect_filtered.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.helpers import SIM_EXPECT  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402

SELECT = ("-k", "iperf3 or ib_write_bw")


def timed_run(cluster: SimCluster, out: Path) -> tuple[float, int]:
    argv = [sys.executable, "-m", "preflight", "run", *SIM_EXPECT, *cluster.preflight_args(),
            *SELECT, "--expect", "iperf_seconds=1", "--out", str(out)]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    return time.monotonic() - started, proc.returncode


def main() -> None:
    with SimCluster(4) as cluster, tempfile.TemporaryDirectory() as tmp:
        healthy, rc_healthy = timed_run(cluster, Path(tmp) / "healthy")
        for port in (5201, *range(18515, 18523)):
            cluster.iptables("node-3", port, "DROP")
        dropped, rc_dropped = timed_run(cluster, Path(tmp) / "dropped")
    print(f"healthy: {healthy:.1f} s (rc {rc_healthy})")  # noqa: T201
    print(f"ports dropped into node-3: {dropped:.1f} s (rc {rc_dropped})")  # noqa: T201


if __name__ == "__main__":
    main()
