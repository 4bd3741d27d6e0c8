"""Pairwise probes on simulated clusters: rounds vs the N-1 bound, iperf3 mesh and ring wall
time, the all-to-all probes' wall time, then the pure schedule timings (bench_schedule).

Each size gets one fresh cluster; gather runs once, then every probe is timed in-process
(the same functions `preflight run` calls), with the sim calibration of the cluster tests
(iperf3 -t 2, median rule 0.25). `--stability K` instead runs K full `preflight run`s on a
healthy 6-host cluster and counts bad results. Needs root, like the cluster tests.

Run: python bench/bench_pairwise.py [N ...]          (default: 8 16)
     python bench/bench_pairwise.py --stability 3
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_schedule  # noqa: E402
from preflight.config import Expectations  # noqa: E402
from preflight.gather import ProbeOptions, gather  # noqa: E402
from preflight.inventory import Node  # noqa: E402
from preflight.measure.iperf import measure_iperf  # noqa: E402
from preflight.measure.mesh import measure_mesh  # noqa: E402
from preflight.measure.mtu import measure_mtu  # noqa: E402
from preflight.measure.ports import measure_ports  # noqa: E402
from preflight.pairjudge import judge  # noqa: E402
from preflight.runctx import RunContext  # noqa: E402
from preflight.transport.ssh import SshSettings, SshTransport  # noqa: E402
from tests.cluster.helpers import run_preflight  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402


def context(cluster: SimCluster, mode: str, run_dir: Path) -> RunContext:
    settings = SshSettings(ssh_config=cluster.ssh_config, known_hosts=cluster.known_hosts)
    return RunContext(nodes=[Node(n) for n in cluster.names],
                      expect=Expectations(pair_mode=mode, iperf_seconds=2.0,
                                          iperf_median_fraction=0.25),
                      run_dir=run_dir,
                      transport_factory=lambda host: SshTransport(host, settings))


def timed(work: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def gbps(result: dict[str, Any]) -> list[float]:
    return [e["gbps"] for e in result["pairs"].values() if e["gbps"] is not None]


def bad(result: dict[str, Any], expect: Expectations) -> str:
    passed = judge(result, expect).passed
    slow = sum(e["gbps"] is not None and not passed[k] for k, e in result["pairs"].items())
    errors = Counter(e["error"] for e in result["pairs"].values() if e["error"])
    said = "; ".join(f"{count}x {error}" for error, count in errors.most_common(3))
    return f"{slow} below the floor, {sum(errors.values())} errors" + (f" ({said})" if said else "")


def bench_size(n: int) -> None:
    with SimCluster(n) as cluster, tempfile.TemporaryDirectory() as tmp:
        ctx = context(cluster, "mesh", Path(tmp))
        try:
            outcomes = gather(cluster.names, ctx.connections, ProbeOptions(resolve=cluster.names))
            ctx.set_outcomes(outcomes)
            probes: list[tuple[str, Callable[[RunContext], dict[str, Any]]]] = [
                ("ports", measure_ports), ("ssh mesh", measure_mesh), ("path mtu", measure_mtu)]
            for name, probe in probes:
                started = time.perf_counter()
                probe(ctx)
                print(f"{n:>5} {name:<12} {'-':>6} {'-':>6} "
                      f"{time.perf_counter() - started:>8.1f} s")
            for mode in ("mesh", "ring"):
                ctx.expect.pair_mode = mode
                seconds, result = timed(lambda: measure_iperf(ctx))
                values = gbps(result)
                print(f"{n:>5} {'iperf3 ' + mode:<12} {result['rounds']:>6} "
                      f"{n - 1 if mode == 'mesh' else '-':>6} {seconds:>8.1f} s   "
                      f"{len(values)} directions, median {statistics.median(values):.1f} "
                      f"Gbit/s (min {min(values):.1f}), {bad(result, ctx.expect)}")
        finally:
            ctx.close()


def stability(runs: int) -> None:
    with SimCluster(6) as cluster, tempfile.TemporaryDirectory() as tmp:
        for attempt in range(1, runs + 1):
            out = Path(tmp) / f"run{attempt}"
            started = time.perf_counter()
            run = run_preflight(*cluster.preflight_args(), out=out, timeout=600)
            seconds = time.perf_counter() - started
            statuses = [r["status"] for r in run.results]
            print(f"run {attempt}: rc {run.rc}, {len(statuses)} results, "
                  f"{statuses.count('pass')} pass, {statuses.count('skip')} skip, "
                  f"{len(run.bad())} bad, {seconds:.0f} s")
            for result in run.bad():
                print(f"   {result['status']}: {result['id']}: {result['message']}")


def main() -> None:
    args = sys.argv[1:]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if args[:1] == ["--stability"]:
        stability(int(args[1]) if len(args) > 1 else 3)
        return
    print(f"{'hosts':>5} {'probe':<12} {'rounds':>6} {'N-1':>6} {'wall':>10}")
    for n in [int(a) for a in args] or [8, 16]:
        bench_size(n)
    print()
    bench_schedule.main()


if __name__ == "__main__":
    main()
