"""Run levels: how much a run checks, and what each level costs.

- ``quick`` (a Slurm prolog or HealthCheckProgram): node-local facts and checks, and each
  node reaching MASTER_ADDR:MASTER_PORT over TCP and the next node on the ring over TCP
  and SSH. No bandwidth, no torch.
- ``standard`` (the default, before a job): quick, plus TCP ports, SSH mesh and path MTU on
  a sampled schedule (master, ring neighbours, K random peers), the cross-node fingerprints,
  iperf3 / ib_write_bw on the ring and the torch all_reduce.
- ``full`` (bring-up, burn-in): every pair for the all-to-all probes, the bandwidth mesh,
  longer iperf3, nccl-tests where found, the shared filesystem's throughput smoke.

MIN_LEVEL is the one table of which check runs from which level; a check it does not name
is node-local and runs at every level. Explicit choices still win: `-k` selects by itself,
`--pairs` keeps the bandwidth checks, `--nccl-tests` keeps nccl-tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from preflight.errors import UserError

Level = Literal["quick", "standard", "full"]
LEVELS: tuple[Level, ...] = ("quick", "standard", "full")
DEFAULT_LEVEL: Level = "standard"
FULL_IPERF_SECONDS = 10

MIN_LEVEL: dict[str, Level] = {
    "path_mtu": "standard",
    "firewall_consistent": "standard",
    "sshd_consistent": "standard",
    "ssh_client_consistent": "standard",
    "iperf3_bandwidth": "standard",
    "bandwidth_isolation": "standard",
    "ib_write_bw": "standard",
    "ib_write_bw_isolation": "standard",
    "torch_rendezvous": "standard",
    "torch_allreduce": "standard",
    "torch_allreduce_busbw": "standard",
    "launcher_ready": "standard",
    "single_node": "full",
    "multi_node": "full",
}
# Checks a flag asks for by itself, whatever the level.
KEPT_BY_FLAG: dict[str, str] = {
    "iperf3_bandwidth": "pair_mode", "bandwidth_isolation": "pair_mode",
    "ib_write_bw": "pair_mode", "ib_write_bw_isolation": "pair_mode",
    "single_node": "nccl_tests", "multi_node": "nccl_tests",
}


def parse_level(text: str) -> Level:
    cleaned = text.strip().lower()
    for level in LEVELS:
        if cleaned == level:
            return level
    raise UserError(f"unknown level {text!r}: choose quick, standard or full")


def rank(level: str) -> int:
    return LEVELS.index(parse_level(level))


def selected(check: str, level: str, flags: frozenset[str] = frozenset()) -> bool:
    """Whether `check` (its name without check_) runs at `level`; `flags` are the
    explicit options given (pair_mode, nccl_tests)."""
    if KEPT_BY_FLAG.get(check) in flags:
        return True
    return rank(MIN_LEVEL.get(check, "quick")) <= rank(level)


# Each node-side fingerprint the gather reads, and the check that compares it. The ssh
# client's is read at every level: the SSH mesh's host-key check takes its policy from it.
FINGERPRINT_CHECKS = {"firewall": "firewall_consistent", "sshd": "sshd_consistent",
                      "ssh_client": "ssh_client_consistent"}
ALWAYS_GATHERED = ("ssh_client",)


def fingerprints_read(level: str, chosen_by_keyword: bool) -> tuple[str, ...]:
    """The fingerprints a run's checks read: a quick run leaves the firewall ruleset and
    `sshd -T` unread, so the gather does not run them; `-k` may choose any check, so it
    gathers every one."""
    return tuple(part for part, check in FINGERPRINT_CHECKS.items()
                 if chosen_by_keyword or part in ALWAYS_GATHERED or selected(check, level))


def level_values(values: dict[str, Any]) -> dict[str, Any]:
    """`values` (every key set by a profile, preflight.toml or a flag) plus the level's
    settings for the keys left unset: the bandwidth schedule (ring below full, the mesh at
    full), iperf3's length, nccl-tests and the shared filesystem's throughput smoke."""
    level = parse_level(str(values.get("level", DEFAULT_LEVEL)))
    chosen = {**values, "level": level}
    if values.get("pair_mode", "auto") == "auto":
        chosen["pair_mode"] = "mesh" if level == "full" else "ring"
    if level == "full":
        chosen.setdefault("iperf_seconds", FULL_IPERF_SECONDS)
        chosen.setdefault("nccl_tests", True)
        chosen.setdefault("shared_fs_throughput", True)
    return chosen


# The torch all_reduce sweep when --torch-sizes / --torch-iters are not given: below full,
# one size (the busbw figure's) and fewer iterations; each all_reduce across N ranks is
# 2(N-1) hops, so the full sweep's 49 collectives cost minutes on a loaded or large cluster.
TORCH_SWEEP: dict[Level, tuple[tuple[int, ...], int]] = {
    "quick": ((4 << 20,), 3),
    "standard": ((4 << 20,), 3),
    "full": (tuple(1 << s for s in range(10, 23, 2)), 5),  # 1 KiB .. 4 MiB, every 4x
}


# Phases of a run, in order: measurements by name -> the phase they belong to.
# The sshd burst is its own phase: from standard on it runs alongside ib_write_bw (its
# seconds lie inside bandwidth's), at quick after the reach probes.
PHASES = ("gather", "reach", "bandwidth", "burst", "collectives", "nccl_tests", "filesystem")
_PHASE_OF_PREFIX = (("ports", "reach"), ("ssh_mesh", "reach"), ("path_mtu", "reach"),
                    ("ssh_burst", "burst"), ("shared_fs", "filesystem"),
                    ("iperf3", "bandwidth"), ("ib_write_bw", "bandwidth"),
                    ("torch", "collectives"), ("launcher", "collectives"), ("nccl", "nccl_tests"))


# The probe fixtures of each phase, for the order checks run in: node-local checks first
# (they need only the gather), then the reach probes, then bandwidth alone, the burst's
# checks (it ran alongside ib_write_bw), then the rest.
_PHASE_OF_FIXTURE = {"ports_probe": "reach", "mesh_probe": "reach", "mtu_probe": "reach",
                     "ssh_burst_probe": "burst", "iperf_probe": "bandwidth",
                     "ib_write_bw_probe": "bandwidth", "torch_allreduce": "collectives",
                     "launcher_ready": "collectives", "sharedfs_probe": "filesystem"}


def run_order(fixtures: Iterable[str]) -> int:
    """Where a check runs, by the probes its fixtures need: 0 for a node-local check, then
    in PHASES order; a probe this table does not name runs after the collectives."""
    ranks = [PHASES.index(_PHASE_OF_FIXTURE[f]) if f in _PHASE_OF_FIXTURE
             else PHASES.index("nccl_tests") for f in fixtures if f.endswith("_probe")
             or f in _PHASE_OF_FIXTURE]
    return max(ranks, default=0)


def phase_of(measurement: str) -> str:
    return next((phase for prefix, phase in _PHASE_OF_PREFIX if measurement.startswith(prefix)),
                "other")


def phase_walls(gather: dict[str, float], measurements: dict[str, Any]) -> dict[str, float]:
    """Wall seconds per phase: how long any of its measurements was running (probes of
    one phase that run at once count once; time spent on other phases in between, not)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    if gather:
        spans["gather"] = [(gather["started"], gather["ended"])]
    for name, data in measurements.items():
        timing = data.get("timing") if isinstance(data, dict) else None
        if timing:
            spans.setdefault(phase_of(name), []).append((timing["started"], timing["ended"]))
    return {phase: round(_covered(intervals), 2) for phase, intervals in
            sorted(spans.items(), key=lambda item: _phase_rank(item[0]))}


def _covered(intervals: list[tuple[float, float]]) -> float:
    total, reached = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


def _phase_rank(phase: str) -> int:
    return PHASES.index(phase) if phase in PHASES else len(PHASES)
