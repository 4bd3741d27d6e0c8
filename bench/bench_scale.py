"""A full default run (no nccl-tests) on 8, 32 and 64 simulated hosts: wall time and the
head's peak RSS. Pairwise probes use the default schedule (`auto`: every pair up to 16
nodes, ring neighbours beyond).

Run: python bench/bench_scale.py [N ...]     (default: 8 32 64; needs root)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.results import load_run  # noqa: E402
from tests.cluster.helpers import SIM_EXPECT  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402


def run_once(cluster: SimCluster, out: Path) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak RSS MiB) of one `preflight run` process."""
    argv = [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(), *SIM_EXPECT,
            "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    return os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss / 1024


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [8, 32, 64]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start; full default run")
    print(f"{'hosts':>5} {'exit':>4} {'wall':>8} {'peak RSS':>9}  results")
    for n in sizes:
        with SimCluster(n) as cluster, tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            rc, wall, rss = run_once(cluster, out)
            left = sum(len(cluster.processes(name)) for name in cluster.names)
            print(f"{n:>5} {rc:>4} {wall:>7.1f}s {rss:>7.0f}MiB  {summary(out)}; "
                  f"{left} processes left on the hosts")
            print(f"{'':>30}probes: {probe_walls(out)}")
            for result in load_run(out).results:
                if result.status.value in ("fail", "error", "warn", "blocked"):
                    print(f"{'':>30}{result.status.value}: {result.id}: {result.message}")


def summary(out: Path) -> str:
    counts = Counter(r.status.value for r in load_run(out).results)
    return ", ".join(f"{count} {status}" for status, count in counts.most_common())


def probe_walls(out: Path) -> str:
    walls = []
    for path in sorted((out / "measurements").glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "wall_s" in data:
            rounds = f", {data['mode']} {data['rounds']} rounds" if "rounds" in data else ""
            walls.append(f"{path.stem} {data['wall_s']:.1f}s{rounds}")
    return "; ".join(walls)


if __name__ == "__main__":
    main()
