"""The launch plan (`preflight launch`, results.json's `launch`) for N nodes: how long it
takes from a run's recorded facts, results and ports measurement.

Facts are the real probe's output against the stand-ins (8 GPUs, 8 IB HCAs), one copy per
node with its own address; results are 20 per-node checks plus a ring of tcp_ports pairs,
and gpu_count's counts (the plan reads the GPUs from them, not from nvidia-smi again).

Run: python bench/bench_launch_plan.py [N ...]     (default: 256 1024)
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.config import Expectations  # noqa: E402
from preflight.golive.plan import plan_launch  # noqa: E402
from preflight.golive.printers import render  # noqa: E402
from preflight.golive.runread import RunInputs  # noqa: E402
from preflight.results import Result, RunRecord, Status  # noqa: E402
from tests.faults.recorded import cluster_of, facts_for  # noqa: E402
from tests.sim.spec import HostSpec  # noqa: E402

NODE_CHECKS = ("ib_ports", "memlock", "efa_count", "nvlink_all_pairs", "ecc_uncorrected",
               "xid_errors", "shm_size", "disk_free", "clock_skew", "names_resolve",
               "version_consistent", "topology_matches_cluster", "gpudirect_nic",
               "persistence_mode", "clock_throttle", "remapped_rows", "retired_pages",
               "gpus_idle", "gpu_model", "probe_ran")


def address(index: int) -> str:
    return f"10.1.{index // 250}.{index % 250 + 1}"


def inputs(n: int, base: dict[str, object]) -> RunInputs:
    names = [f"gpu-{i:04d}" for i in range(n)]
    facts = {}
    for index, name in enumerate(names):
        node = copy.deepcopy(base)
        node["interfaces"] = [{"name": "ens6", "state": "up", "mtu": 9000,
                               "addresses": [address(index)]}]
        facts[name] = node
    results = [Result(f"{c}[{n}]", c, "x", Status.PASS, node=n) for n in names
               for c in NODE_CHECKS]
    results += [Result(f"gpu_count[{n}]", "gpu_count", "gpu", Status.PASS, node=n, measured=8)
                for n in names]
    results += [Result(f"tcp_ports[{i}]", "tcp_ports", "ports", Status.PASS,
                       pair=(names[i], names[(i + 1) % n])) for i in range(n)]
    ports = {"ports": [22, 29500],
             "listeners": {name: {"address": address(i)} for i, name in enumerate(names)},
             "pairs": {f"{src}|{names[0]}": {"22": ["open", ""], "29500": ["open", ""]}
                       for src in names[1:]}}
    record = RunRecord("bench", [], "", hosts=names, results=results,
                       thresholds=Expectations().to_dict())
    return RunInputs(cluster_of(facts, dict.fromkeys(names, 8)), dict.fromkeys(names), record,
                     {"ports": ports})


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = facts_for(HostSpec(gpus=8), Path(folder), ["x"])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; median of 3 (fresh facts each time: every node's "
          "ibstat parsed once)")
    print(f"{'nodes':>6} {'results':>8} {'plan':>8} {'render':>8}")
    for n in sizes:
        plans, renders = [], []
        for _ in range(3):
            given = inputs(n, base)
            started = time.perf_counter()
            plan = plan_launch(given)
            planned = time.perf_counter()
            render(plan, "torchrun", None, None, Path("/run"))
            plans.append(planned - started)
            renders.append(time.perf_counter() - planned)
        print(f"{n:>6} {len(given.record.results):>8} {statistics.median(plans):>7.2f}s "
              f"{statistics.median(renders):>7.3f}s")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [256, 1024])
