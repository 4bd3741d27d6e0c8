"""A healthy cluster must never cry wolf, at size: R full runs in a row on N simulated hosts
(the fault matrix's settings: bandwidth mesh, 1 s iperf3), each into a new run directory;
prints each run's wall time and every result that is not pass or skip.

Ephemeral ports, the ssh burst and source addresses are new each run, so repeated runs are
what shows a probe crying wolf. Too long for the test suite at 16 hosts on 2 cores (the
6-host repeat is tests/faults/test_healthy_repeat.py).

Run (root): python bench/bench_healthy_repeat.py [HOSTS [RUNS]]     (default: 16 5)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.runs import MESH, full_run, leftovers  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402


def main() -> int:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    clean = 0
    with SimCluster(hosts) as cluster, tempfile.TemporaryDirectory() as tmp:
        for attempt in range(1, runs + 1):
            started = time.perf_counter()
            run = full_run(cluster, Path(tmp) / f"run{attempt}", pairs=MESH, timeout=1200)
            wall = time.perf_counter() - started
            bad = [f"  {r['status']}: {r['id']}: {r['message'][:160]}" for r in run.bad()]
            left = leftovers(cluster)
            print(f"run {attempt}: exit {run.rc}, {wall:.0f} s, {len(bad)} not pass/skip, "
                  f"{sum(map(len, left.values()))} processes left")
            print("\n".join(bad))
            clean += run.rc == 0 and not bad and not left
    print(f"{clean} of {runs} runs clean on {hosts} hosts")
    return 0 if clean == runs else 1


if __name__ == "__main__":
    sys.exit(main())
