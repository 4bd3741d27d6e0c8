"""Pair-schedule sizes and computation time (pure: no cluster).

Run: python bench/bench_schedule.py
"""

from __future__ import annotations

import platform
import sys
import time

from preflight.schedule import rounds

SIZES = (8, 16, 64, 256, 1024)
TIMED_N = 1024
TIMED_MODES = ("mesh", "ring", "sample:8", "sample:64")
REPEATS = 5


def names(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def best_seconds(nodes: list[str], mode: str) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        rounds(nodes, mode, seed=0)
        timings.append(time.perf_counter() - start)
    return min(timings)


def print_round_counts() -> None:
    print(f"{'N':>6} {'mesh rounds':>12} {'N-1 bound':>10} {'ring rounds':>12} {'mesh pairs':>11}")
    for n in SIZES:
        mesh = rounds(names(n), "mesh")
        ring = rounds(names(n), "ring")
        pairs = sum(len(r) for r in mesh)
        print(f"{n:>6} {len(mesh):>12} {n - 1:>10} {len(ring):>12} {pairs:>11}")


def print_timings() -> None:
    nodes = names(TIMED_N)
    print(f"\nschedule computation at N={TIMED_N}, best of {REPEATS}:")
    for mode in TIMED_MODES:
        schedule = rounds(nodes, mode)
        pairs = sum(len(r) for r in schedule)
        millis = best_seconds(nodes, mode) * 1000
        print(f"  {mode:<10} {len(schedule):>5} rounds {pairs:>7} pairs {millis:>9.2f} ms")


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()} ({sys.platform})")
    print_round_counts()
    print_timings()


if __name__ == "__main__":
    main()
