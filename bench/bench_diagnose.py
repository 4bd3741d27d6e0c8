"""Time `preflight diagnose` on each corpus log and on a built 1,024-rank job (issue 16).

Usage: python bench/bench_diagnose.py [CORPUS_DIR]

The 1,024-rank job is one file per rank (Slurm --output=%t): NCCL init lines and a watchdog
timeout on every rank, an IB completion error on one. Best of 3 runs each.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from preflight.diagnose import diagnose

RANKS = 1024


def best_of(paths: list[Path], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        diagnose(paths)
        best = min(best, time.perf_counter() - start)
    return best


def build_job(folder: Path) -> None:
    for rank in range(RANKS):
        host = f"gpu-{rank // 8:03d}"
        lines = [
            f"{host}:{100 + rank}:{100 + rank} [{rank % 8}] NCCL INFO NCCL version 2.21.5\n",
            f"{host}:{100 + rank}:{100 + rank} [{rank % 8}] NCCL INFO comm 0x1 rank {rank} "
            f"nranks {RANKS} cudaDev {rank % 8} busId 1000 - Init COMPLETE\n",
            f"[rank{rank}]:[E1229 16:57:25.{rank:06d} ProcessGroupNCCL.cpp:616] [PG 0 Rank "
            f"{rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=55, "
            "OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600100 "
            "milliseconds before timing out.\n",
        ]
        if rank == 517:
            lines.insert(
                2,
                f"{host}:617:700 [5] transport/net_ib.cc:1 NCCL WARN NET/IB : Got "
                "completion from peer 10.0.0.4<33092> with error 12, opcode 0, len 0, "
                "vendor err 129 (Recv)\n",
            )
        (folder / f"{rank}.out").write_text("".join(lines))


def main() -> None:
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus") / "nccl_logs"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    worst = max((best_of([path]), path.name) for path in sorted(corpus.iterdir()))
    print(f"slowest corpus log: {worst[0] * 1000:.1f} ms ({worst[1]})")
    with tempfile.TemporaryDirectory() as tmp:
        build_job(Path(tmp))
        seconds = best_of([Path(tmp)])
        root = diagnose([Path(tmp)]).root
    print(f"{RANKS} per-rank files: {seconds:.2f} s, root {root.cause if root else None}")


if __name__ == "__main__":
    main()
