"""Where the head's memory peaks: gather facts from N simulated hosts once, then replay
every check on them (`preflight check --from`) while sampling the head's RSS every 0.1 s,
printing each step of 8 MiB or more with the run directory's files at that moment (which
output is being written), and the peak from `wait4`.

Measurements are not replayed (no iperf3 or SSH mesh on the hosts): those checks end as
errors, so the replay has the live run's items but not its probes.

Run: python bench/bench_head_memory.py [N]     (default: 64; needs root)
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


def gather(n: int, run_dir: Path) -> None:
    with SimCluster(n) as cluster:
        argv = [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(),
                *SIM_EXPECT, "-k", "ssh_reachable", "--out", str(run_dir)]
        subprocess.run(argv, capture_output=True, timeout=900, check=True)


def rss_mib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def replay(facts_dir: Path, out: Path) -> float:
    argv = [sys.executable, "-m", "preflight", "check", "--from", str(facts_dir),
            "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, last = time.perf_counter(), -8
    while True:
        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)  # reaps it: ru_maxrss when done
        if pid:
            return usage.ru_maxrss / 1024
        rss = rss_mib(proc.pid)
        if rss is not None and abs(rss - last) >= 8:
            files = sorted(os.listdir(out)) if out.is_dir() else []
            print(f"{time.perf_counter() - started:6.1f}s {rss:5d} MiB  {' '.join(files)}")
            last = rss
        time.sleep(0.1)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    with tempfile.TemporaryDirectory() as tmp:
        gather(n, Path(tmp) / "gathered")
        peak = replay(Path(tmp) / "gathered", Path(tmp) / "replay")
        print(f"{n} hosts: replay peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
