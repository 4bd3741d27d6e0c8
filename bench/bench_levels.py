"""Wall time per level and per phase on N simulated hosts, next to the default before
levels (reach probes over every pair, the bandwidth mesh up to 16 nodes, ring beyond).

Run: python bench/bench_levels.py [N ...] [--levels before,quick,standard,full]
     [--repeat-standard K] [--compare TREE [--repeat K]]
     (default: 16 64; full only up to 16 hosts; needs root)

--repeat-standard K runs `standard` K more times on the largest cluster and counts the
fail/error results (a healthy cluster must give none).

--compare TREE runs each level also with the preflight of another source tree (e.g. a
`git archive` of the commit before a change), interleaved on the same held cluster: K
pairs per level (--repeat, default 1), the order flipped every pair (TREE first, then this
tree; then this tree first), so that a load that rises or falls weighs on both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.helpers import SIM_EXPECT  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402

FULL_MAX_HOSTS = 16


def level_args(level: str, n: int) -> list[str]:
    if level == "before":  # the default before levels: auto = mesh up to 16 nodes
        return ["--level", "full", "--pairs", "mesh" if n <= FULL_MAX_HOSTS else "ring",
                "--expect", "nccl_tests=false", "--expect", "iperf_seconds=2"]
    return ["--level", level]


HERE = Path(__file__).resolve().parent.parent
CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1, as on the benchmark machine


class CpuSplit:
    """CPU seconds of the simulated nodes and of the head, each run, from two cpuacct
    cgroups: every host's sshd is moved into `nodes` (all that runs on a node is its
    descendant), the preflight process into `head`. On 2 shared cores the wall says
    little; these say whose work it was (other engineers' load is in neither)."""

    def __init__(self, cluster: SimCluster) -> None:
        self.root = CPUACCT / f"bench-levels-{os.getpid()}"
        self.nodes, self.head = self.root / "nodes", self.root / "head"
        for group in (self.nodes, self.head):
            group.mkdir(parents=True, exist_ok=True)
        for name in cluster.names:
            (self.nodes / "cgroup.procs").write_text(f"{cluster.host(name).sshd.pid}\n")

    @staticmethod
    def available() -> bool:
        return os.access(CPUACCT, os.W_OK)

    def usage(self) -> tuple[float, float]:
        """(nodes, head) CPU seconds so far."""
        nodes, head = (int((g / "cpuacct.usage").read_text()) / 1e9
                       for g in (self.nodes, self.head))
        return nodes, head

    def enter_head(self) -> None:
        """preexec_fn of the preflight process: it and what it starts count as the head."""
        (self.head / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def close(self) -> None:
        for group in (self.nodes, self.head):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):  # exited meanwhile
                    (CPUACCT / "cgroup.procs").write_text(pid + "\n")
            group.rmdir()
        self.root.rmdir()


split: CpuSplit | None = None


def run_once(cluster: SimCluster, level: str, out: Path,
             tree: Path = HERE) -> tuple[int, float, float, dict[str, object]]:
    """(exit code, wall, the head's CPU seconds, results.json) of one `preflight run` of
    the preflight in `tree`. The CPU is the head process's and what it waited for (not the
    nodes'): on cores shared with other work it says more than the wall."""
    argv = [sys.executable, "-m", "preflight", "run", *cluster.preflight_args(), *SIM_EXPECT,
            *level_args(level, len(cluster.names)), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # An installed preflight has its bytecode: compiling ~600 modules every run (1-2 s of
    # the head's CPU) is this machine's PYTHONDONTWRITEBYTECODE, not the product's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, check=False, cwd=tree,
                          env={**env, "PYTHONPATH": str(tree)},
                          preexec_fn=split.enter_head if split else None)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if not (out / "results.json").exists():
        sys.exit(f"preflight exited {proc.returncode} without results.json:\n"
                 + proc.stderr.decode(errors="replace")[-3000:])
    record = json.loads((out / "results.json").read_text())
    return proc.returncode, wall, cpu, record


def describe(record: dict[str, object]) -> tuple[str, str, list[str]]:
    phases = record.get("phases") or {}
    assert isinstance(phases, dict)
    results = record.get("results") or []
    assert isinstance(results, list)
    counts = Counter(r["status"] for r in results)
    bad = [f"{r['status']}: {r['id']}: {r['message'][:120]}" for r in results
           if r["status"] in ("fail", "error", "blocked", "warn")]
    walls = " ".join(f"{k} {v:.1f}s" for k, v in phases.items())
    return walls, ", ".join(f"{c} {s}" for s, c in counts.most_common()), bad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[16, 64])
    parser.add_argument("--levels", default="before,quick,standard,full")
    parser.add_argument("--repeat-standard", type=int, default=0)
    parser.add_argument("--compare", type=Path, help="another source tree, run interleaved")
    parser.add_argument("--repeat", type=int, default=1, help="pairs per level with --compare")
    options = parser.parse_args()
    levels = options.levels.split(",")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start", flush=True)
    print(f"{'hosts':>5} {'level':<9} {'exit':>4} {'wall':>7}  phases; results", flush=True)
    global split
    for n in options.sizes:
        with SimCluster(n) as cluster, tempfile.TemporaryDirectory() as tmp:
            split = CpuSplit(cluster) if CpuSplit.available() else None
            chosen = [lv for lv in levels if lv != "full" or n <= FULL_MAX_HOSTS]
            for index, level in enumerate(chosen):
                if options.compare:
                    compare(cluster, level, Path(tmp) / f"run{index}", options.compare,
                            options.repeat)
                else:
                    report(cluster, level, Path(tmp) / f"run{index}")
            if options.repeat_standard and n == max(options.sizes):
                for index in range(options.repeat_standard):
                    report(cluster, "standard", Path(tmp) / f"repeat{index}")
            if split:
                split.close()


def probe_walls(out: Path) -> str:
    """Each probe's own wall, in the order they ran, and the torch probe's steps (the
    slowest rank's seconds): where a phase's time went."""
    path = out / "measurements.json"
    if not path.is_file():
        return ""
    data = json.loads(path.read_text())
    timed = sorted((m["timing"]["started"], name, m["timing"]["ended"] - m["timing"]["started"])
                   for name, m in data.items() if isinstance(m, dict) and m.get("timing"))
    text = " ".join(f"{name} {seconds:.1f}s" for _, name, seconds in timed)
    steps = (data.get("torch_allreduce") or {}).get("step_seconds")
    if steps:
        text += "; torch steps: " + " ".join(f"{k} {v:.1f}s" for k, v in steps.items())
    return text


def installed_layout(tree: Path) -> None:
    """Link `tree`'s checks/, reports/ and nccl_tests/ under its preflight/ as an install
    lays them out: else preflight.checks would be this worktree's (the editable install's
    package-dir mapping), not the other tree's."""
    for folder in ("checks", "reports", "nccl_tests"):
        link = tree / "preflight" / folder
        if not link.exists():
            link.symlink_to(Path("..") / folder)


def compare(cluster: SimCluster, level: str, out: Path, other: Path, pairs: int) -> None:
    """`pairs` runs of each tree at `level`, interleaved, the order flipped every pair."""
    installed_layout(other)
    for index in range(pairs):
        trees = [("before", other), ("after", HERE)]
        for label, tree in trees if index % 2 == 0 else trees[::-1]:
            report(cluster, level, out.with_name(f"{out.name}-{index}-{label}"), tree, label)


def report(cluster: SimCluster, level: str, out: Path, tree: Path = HERE,
           label: str = "") -> None:
    load = os.getloadavg()[0]
    nodes_before, head_before = split.usage() if split else (0.0, 0.0)
    rc, wall, cpu, record = run_once(cluster, level, out, tree)
    nodes_after, head_after = split.usage() if split else (0.0, 0.0)
    cpus = (f"; CPU nodes {nodes_after - nodes_before:.1f}s head "
            f"{head_after - head_before:.1f}s (cgroups)" if split else "")
    walls, counts, bad = describe(record)
    left = sum(len(cluster.processes(name)) for name in cluster.names)
    print(f"{label:<6}{len(cluster.names):>5} {level:<9} {rc:>4} {wall:>6.1f}s  {walls}; {counts}; "
          f"{left} processes left; head CPU {cpu:.1f}s; load {load:.0f} -> "
          f"{os.getloadavg()[0]:.0f}{cpus}", flush=True)
    print(f"{'':>30}probes: {probe_walls(out)}", flush=True)
    for line in bad:
        print(f"{'':>30}{line}", flush=True)


if __name__ == "__main__":
    main()
