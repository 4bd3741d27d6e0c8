"""Gather (one probe per node over paramiko) vs `pdsh -R ssh` running one trivial command.

Both run on the same simulated hosts in one run, each timed from a cold start (new SSH
connections). Needs root, like the cluster tests.

Three gather figures per size:
- "stand-ins": the simulated hosts as the tests run them. Every tool the probe runs is a
  Python stand-in rendering its output (~30 ms of CPU each, 5 per node), and all N "nodes"
  share this machine's cores: at 32 hosts that is 160 renderings on 2 cores at once, a
  cost a real cluster spreads over 32 machines.
- "frozen tools": each stand-in replaced by a shell script that prints what the stand-in
  printed for that call (`cat`), so a tool costs about what a fast real one does.
- "transport": connect and run `true`: the SSH part of the gather alone.
- "preflight run": the whole process as a user starts it, `preflight run --hostfile H -k
  "probe_ran or ssh_reachable"`, each time into a new run directory (a run never reuses an
  earlier run's facts, so every timing includes the gather), with the stand-ins and again
  with frozen tools.

And the same through a real Slurm on those hosts (tests/sim/slurm.py: slurmctld on the
head, one slurmd per host): "srun true" (one step, one task per node), and `--gather srun`
(one step running the framed probe on every node) with stand-ins and with frozen tools.

Run: python bench/bench_gather.py [N ...]     (default: 8 32)
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.connections import Connections  # noqa: E402
from preflight.fanout import fan_out  # noqa: E402
from preflight.gather import ProbeOptions, gather  # noqa: E402
from preflight.gather_srun import gather_via_srun  # noqa: E402
from preflight.transport.ssh import SshSettings, SshTransport  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402
from tests.sim.slurm import SimSlurm  # noqa: E402

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


def time_transport(cluster: SimCluster) -> float:
    settings = SshSettings(ssh_config=cluster.ssh_config, known_hosts=cluster.known_hosts)
    started = time.perf_counter()
    with Connections(lambda host: SshTransport(host, settings)) as connections:
        fan_out(cluster.names, lambda name: connections.get(name).run(["true"], timeout=30),
                max_workers=64, deadline_s=120)
    return time.perf_counter() - started


def freeze_tools(cluster: SimCluster) -> None:
    """Replace each host's stand-ins by `cat` of what they printed for the calls the probe
    made (read from calls.log after one gather); any other call still reaches the stand-in."""
    for name in cluster.names:
        host = cluster.host(name)
        calls = sorted(set((host.dir / "calls.log").read_text().splitlines()))
        frozen = host.dir / "frozen"
        frozen.mkdir(exist_ok=True)
        by_tool: dict[str, list[tuple[str, str]]] = {}
        for index, call in enumerate(calls):
            tool, *args = call.split(" ")
            ran = cluster.run_in(name, [str(host.bin_dir / tool), *args])
            out, err = frozen / f"{index}.out", frozen / f"{index}.err"
            out.write_text(ran.stdout)
            err.write_text(ran.stderr)
            replay = (f"cat {shlex.quote(str(out))}; cat {shlex.quote(str(err))} >&2; "
                      f"exit {ran.returncode}")
            by_tool.setdefault(tool, []).append((" ".join(args), replay))
        for tool, cases in by_tool.items():
            launcher = host.bin_dir / tool
            original = launcher.with_name(f".{tool}.stand-in")
            launcher.rename(original)
            arms = "".join(f"  {shlex.quote(args)}) {replay} ;;\n" for args, replay in cases)
            launcher.write_text(f'#!/bin/sh\ncase "$*" in\n{arms}'
                                f'  *) exec {shlex.quote(str(original))} "$@" ;;\nesac\n')
            launcher.chmod(0o755)


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


def time_preflight_run(cluster: SimCluster, runs: Path) -> float:
    """The CLI as a whole process, into a run directory no run has used."""
    out = Path(tempfile.mkdtemp(dir=runs)) / "run"
    argv = [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(),
            "-k", "probe_ran or ssh_reachable", "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if not (out / "facts.json").is_file():
        raise SystemExit(f"preflight run wrote no facts (rc {proc.returncode}): "
                         f"{proc.stderr[-500:]}")
    return elapsed


def time_srun_true(slurm: SimSlurm) -> float:
    names = slurm.cluster.names
    started = time.perf_counter()
    slurm.run("srun", f"--nodes={len(names)}", "--ntasks-per-node=1", "true", timeout=300)
    return time.perf_counter() - started


def time_srun_gather(slurm: SimSlurm) -> float:
    names = slurm.cluster.names
    os.environ["SLURM_CONF"] = str(slurm.conf)
    started = time.perf_counter()
    outcomes = gather_via_srun(names, ProbeOptions(resolve=names), timeout=300)
    elapsed = time.perf_counter() - started
    failed = {name: o.error for name, o in outcomes.items() if not o.ok}
    if failed:
        raise SystemExit(f"srun gather failed: {failed}")
    return elapsed


def timed(what: Callable[[], float], times: int = REPEATS) -> list[float]:
    return [what() for _ in range(times)]


def ssh_rows(cluster: SimCluster, runs: Path, frozen: bool) -> list[tuple[str, list[float]]]:
    label = "frozen tools" if frozen else "stand-ins"
    return [(f"gather, {label}", timed(partial(time_gather, cluster))),
            (f"preflight run, {label}", timed(partial(time_preflight_run, cluster, runs)))]


def srun_rows(slurm: SimSlurm, frozen: bool) -> list[tuple[str, list[float]]]:
    return [(f"srun gather, {'frozen' if frozen else 'stand-ins'}",
             timed(partial(time_srun_gather, slurm)))]


def main() -> None:
    """Sizes as arguments; --ssh-only leaves Slurm out (at 200 simulated hosts one srun step
    starts 200 probes, 1,000 stand-in processes, at once on this one machine: more memory
    than it has, where a real cluster spreads them over 200 machines)."""
    ssh_only = "--ssh-only" in sys.argv
    sizes = [int(a) for a in sys.argv[1:] if a != "--ssh-only"] or [8, 32]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best and median of "
          f"{REPEATS} cold runs each")
    print(f"{'hosts':>5} {'what':<25} {'best':>7} {'median':>7} {'/ pdsh':>7}")
    for n in sizes:
        with SimCluster(n) as cluster, tempfile.TemporaryDirectory() as tmp:
            runs = Path(tmp)
            slurm = None if ssh_only else SimSlurm(cluster).start()
            try:
                pdsh = timed(partial(time_pdsh, cluster))
                rows = [("pdsh -R ssh true", pdsh),
                        ("transport (true)", timed(partial(time_transport, cluster)))]
                if slurm is not None:
                    rows.append(("srun true", timed(partial(time_srun_true, slurm))))
                for frozen in (False, True):
                    if frozen:
                        freeze_tools(cluster)
                    rows += ssh_rows(cluster, runs, frozen)
                    rows += srun_rows(slurm, frozen) if slurm is not None else []
            finally:
                if slurm is not None:
                    slurm.stop()
        base = statistics.median(pdsh)
        for label, times in rows:
            median = statistics.median(times)
            print(f"{n:>5} {label:<25} {min(times):>6.2f}s {median:>6.2f}s "
                  f"{median / base:>6.2f}x")


if __name__ == "__main__":
    main()
