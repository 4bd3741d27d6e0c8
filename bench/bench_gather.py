"""Gather (one probe per node over paramiko) vs `pdsh -R ssh` running one trivial command.

Both run on the same simulated hosts in one run, each timed from a cold start (new SSH
connections). Needs root, like the cluster tests.

Run: python bench/bench_gather.py [N ...]     (default: 8 32)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.connections import Connections  # noqa: E402
from preflight.gather import ProbeOptions, gather  # noqa: E402
from preflight.transport.ssh import SshSettings, SshTransport  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402

REPEATS = 3


def time_pdsh(cluster: SimCluster) -> float:
    env = {**os.environ, "PDSH_SSH_ARGS_APPEND": f"-F {cluster.ssh_config}"}
    started = time.perf_counter()
    proc = subprocess.run(["pdsh", "-R", "ssh", "-f", "64", "-w", ",".join(cluster.names),
                           "true"], env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pdsh failed: {proc.stderr[-500:]}")
    return elapsed


def time_gather(cluster: SimCluster) -> float:
    settings = SshSettings(ssh_config=cluster.ssh_config, known_hosts=cluster.known_hosts)
    options = ProbeOptions(resolve=cluster.names)
    started = time.perf_counter()
    with Connections(lambda host: SshTransport(host, settings)) as connections:
        outcomes = gather(cluster.names, connections, options, fanout=64)
    elapsed = time.perf_counter() - started
    failed = [name for name, outcome in outcomes.items() if not outcome.ok]
    if failed:
        raise SystemExit(f"gather failed on {failed}")
    return elapsed


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [8, 32]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best and median of "
          f"{REPEATS} cold runs each")
    print(f"{'hosts':>5} {'pdsh best':>10} {'pdsh med':>9} {'gather best':>12} "
          f"{'gather med':>11} {'ratio (med)':>12}")
    for n in sizes:
        with SimCluster(n) as cluster:
            pdsh = [time_pdsh(cluster) for _ in range(REPEATS)]
            ours = [time_gather(cluster) for _ in range(REPEATS)]
        ratio = statistics.median(ours) / statistics.median(pdsh)
        print(f"{n:>5} {min(pdsh):>9.2f}s {statistics.median(pdsh):>8.2f}s "
              f"{min(ours):>11.2f}s {statistics.median(ours):>10.2f}s {ratio:>11.2f}x")


if __name__ == "__main__":
    main()
