"""What busbw a run must reach, and which busbw of a run is compared.

nccl-tests defines busbw so that it compares directly with the hardware's link peak,
whatever the rank count (NVIDIA/nccl-tests doc/PERFORMANCE.md, "Bus bandwidth"). The
figure compared is the large-message plateau: the best busbw cell at sizes >= 1 GiB, or
at the largest size run when the sweep stopped below 1 GiB; never the '# Avg bus
bandwidth' line, which averages in the latency-bound small sizes.

Floors, first that applies:
- single node: the profile/config floor `allreduce_busbw_gbps` (all_reduce), else
  `collective_median_fraction` (0.7) x the median of the nodes' own results;
- multi-node: `internode_busbw_gbps` from the config, else for all_reduce a floor derived
  from each node's Active IB/RoCE ports: NVIDIA states 46-48 GB/s busbw per NDR 400 Gb/s
  NIC (NVIDIA/nccl-tests issue #290, maintainer's answer "For NDR @ 400Gbps you should see
  46-48GB/s per NIC"); the floor is 85% of the low end, the margin the profiles keep too.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from preflight.parsers.nccl_tests import NcclTestsRun

LARGE_MESSAGE_BYTES = 1 << 30
BUSBW_PER_400G_NIC_GBPS = 46.0  # GB/s, the low end of NVIDIA's 46-48 (issue #290)
HARDWARE_FLOOR_FRACTION = 0.85


@dataclass(frozen=True)
class Floor:
    gbps: float
    basis: str  # where the number comes from, for the message

    def to_dict(self) -> dict[str, Any]:
        return {"gbps": self.gbps, "basis": self.basis}


@dataclass(frozen=True)
class Plateau:
    gbps: float
    size_bytes: int  # the size of the best cell

    @property
    def size_text(self) -> str:
        return human_size(self.size_bytes)


def plateau(run: NcclTestsRun) -> Plateau | None:
    """The best busbw among the rows >= 1 GiB (or of the largest size run)."""
    measured = [row for row in run.rows if row.busbw_cells()]
    if not measured:
        return None
    large = [row for row in measured if row.size_bytes >= LARGE_MESSAGE_BYTES]
    if not large:
        biggest = max(row.size_bytes for row in measured)
        large = [row for row in measured if row.size_bytes == biggest]
    best = max(large, key=lambda row: max(row.busbw_cells()))
    return Plateau(max(best.busbw_cells()), best.size_bytes)


def human_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def single_node_floor(collective: str, expect: Any, peers: Iterable[float]) -> Floor | None:
    """peers: the plateau busbw of every node whose run gave one (for the median rule)."""
    profile_floor = getattr(expect, "allreduce_busbw_gbps", None)
    if collective == "all_reduce" and profile_floor:
        return Floor(float(profile_floor), f"profile {expect.profile} floor")
    values = list(peers)
    if len(values) < 2:
        return None  # one node: nothing to compare it with
    fraction = float(expect.collective_median_fraction)
    median = statistics.median(values)
    return Floor(median * fraction, f"{fraction:g} x cluster median {median:.4g} GB/s")


def internode_floor(collective: str, expect: Any,
                    nic_gbps: Mapping[str, float]) -> Floor | None:
    """nic_gbps: node -> the Gbit/s of its Active compute ports (count x rate)."""
    configured = getattr(expect, "internode_busbw_gbps", None)
    if configured:
        return Floor(float(configured), "internode_busbw_gbps from the config")
    if collective != "all_reduce" or not nic_gbps or min(nic_gbps.values()) <= 0:
        return None
    slowest = min(nic_gbps, key=lambda name: nic_gbps[name])
    gbits = nic_gbps[slowest]
    where = "per node" if len(set(nic_gbps.values())) == 1 else f"on {slowest}, the fewest"
    expected = gbits / 400.0 * BUSBW_PER_400G_NIC_GBPS
    return Floor(expected * HARDWARE_FLOOR_FRACTION,
                 f"{HARDWARE_FLOOR_FRACTION:g} x {expected:.4g} GB/s: "
                 f"{BUSBW_PER_400G_NIC_GBPS:g} GB/s per 400 Gb/s NIC, "
                 f"{gbits:g} Gb/s of compute NICs {where}")


def compute_nic_gbps(ports: list[dict[str, Any]] | None, expect: Any) -> float | None:
    """Gbit/s of a node's compute NICs: the configured ib_ports x ib_rate_gbps, else its
    Active ports at its top rate (storage/management ports are slower and left out)."""
    if expect.ib_ports and expect.ib_rate_gbps:
        return float(expect.ib_ports) * float(expect.ib_rate_gbps)
    rates = [float(p["rate_gbps"]) for p in ports or []
             if p.get("state") == "Active" and p.get("rate_gbps")]
    if not rates:
        return None
    top = max(rates)
    return top * sum(1 for rate in rates if rate == top)
