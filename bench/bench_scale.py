"""A full default run (no nccl-tests) on 8, 32 and 64 simulated hosts: wall time and the
head's peak RSS. Pairwise probes run in ring mode, the mode for large clusters.

Run: python bench/bench_scale.py [N ...]     (default: 8 32 64; needs root)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.helpers import SIM_EXPECT  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402


def run_once(cluster: SimCluster, out: Path) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak RSS MiB) of one `preflight run` process."""
    argv = [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(), *SIM_EXPECT,
            "--pairs", "ring", "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    return os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss / 1024


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [8, 32, 64]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; full default run, "
          "--pairs ring")
    print(f"{'hosts':>5} {'exit':>4} {'wall':>8} {'peak RSS':>9}")
    for n in sizes:
        with SimCluster(n) as cluster, tempfile.TemporaryDirectory() as tmp:
            rc, wall, rss = run_once(cluster, Path(tmp) / "run")
        print(f"{n:>5} {rc:>4} {wall:>7.1f}s {rss:>7.0f}MiB")


if __name__ == "__main__":
    main()
