"""Rails for ib_write_bw: which HCA pairs a pair test uses, with which options, to what floor.

Rail i is a node's i-th IB/RoCE port in natural HCA order (mlx5_0, mlx5_1, ... mlx5_10):
HCA i on the source writes to HCA i on the target, as NCCL pairs rails. Pure functions,
so the plan is tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from preflight.config import Expectations
from preflight.isolate import natural_key
from preflight.parsers import perftest

TOOL = "ib_write_bw"
BASE_PORT = 18515  # perftest's default TCP port; rail i uses BASE_PORT + i
# nvidia-smi topo -m: how close a GPU is to a NIC, best first.
LINK_RANK = {"PIX": 0, "PXB": 1, "PHB": 2, "NODE": 3, "SYS": 4}


@dataclass(frozen=True)
class Settings:
    fraction: float  # pass at >= fraction x port rate
    rate_gbps: float | None  # expected port rate (config); None: the slower port's rate
    gpudirect: bool  # --use_cuda: GPU memory on both ends
    bidirectional: bool  # -b: one test per pair, both directions at once
    seconds: int = 3


def settings_from(expect: Expectations) -> Settings:
    # ib_write_bw_bidirectional is read defensively: Expectations may not define it yet.
    bidirectional = bool(getattr(expect, "ib_write_bw_bidirectional", False))
    return Settings(expect.ib_write_bw_fraction, expect.ib_rate_gbps, expect.gpudirect,
                    bidirectional)


@dataclass(frozen=True)
class Rail:
    index: int
    device: str  # the HCA, e.g. mlx5_0
    port: int  # its IB port number
    rate_gbps: float
    state: str
    cuda: int | None = None  # the GPU whose memory --use_cuda uses on this rail

    @property
    def tcp_port(self) -> int:
        return BASE_PORT + self.index


def node_rails(ports: list[dict[str, Any]], topo: Mapping[str, Any] | None,
               gpus: int | None, gpudirect: bool) -> list[Rail]:
    ordered = sorted(ports, key=lambda p: (natural_key(str(p.get("ca"))), int(p.get("port") or 1)))
    return [Rail(i, str(p.get("ca")), int(p.get("port") or 1), float(p.get("rate_gbps") or 0),
                 str(p.get("state")),
                 closest_gpu(str(p.get("ca")), i, topo, gpus) if gpudirect else None)
            for i, p in enumerate(ordered)]


def closest_gpu(device: str, index: int, topo: Mapping[str, Any] | None,
                gpus: int | None) -> int:
    """The GPU nearest the HCA in `nvidia-smi topo -m` (PIX before PXB ... SYS; ties: the
    lowest index); without a topology, GPU i for rail i (wrapping)."""
    column = _topo_column(device, topo)
    if topo is not None and column is not None:
        ranked = [(LINK_RANK.get(str(row.get(column)), len(LINK_RANK)), int(gpu[3:]))
                  for gpu, row in (topo.get("links") or {}).items()
                  if gpu.startswith("GPU") and gpu[3:].isdigit()]
        if ranked:
            return min(ranked)[1]
    return index % gpus if gpus else 0


def _topo_column(device: str, topo: Mapping[str, Any] | None) -> str | None:
    if topo is None:
        return None
    for column, name in (topo.get("nic_names") or {}).items():
        if name == device:
            return str(column)
    return device  # old topo -m output names HCA columns directly


@dataclass(frozen=True)
class RailPair:
    src: Rail
    dst: Rail

    @property
    def port_rate_gbps(self) -> float:
        """What the rail can carry: the slower port's rate (what the measurement records)."""
        return min(self.src.rate_gbps, self.dst.rate_gbps)


def rail_floor(port_rate_gbps: float, settings: Settings) -> float:
    """A rail's floor under these settings: fraction x (the configured rate, else the
    slower port's) x directions. Computed where the verdict is, never recorded."""
    ways = 2 if settings.bidirectional else 1  # perftest -b sums both directions
    return round(settings.fraction * (settings.rate_gbps or port_rate_gbps) * ways, 3)


def match_rails(src: list[Rail], dst: list[Rail],
                settings: Settings) -> tuple[list[RailPair], dict[str, str]]:
    """Rails tested (Active at both ends) and those not, each with why.

    A Down port or a missing HCA is the ib_ports check's finding, not a slow rail."""
    tested: list[RailPair] = []
    untested: dict[str, str] = {}
    for i in range(max(len(src), len(dst))):
        if i >= len(src) or i >= len(dst):
            have = src[i] if i < len(src) else dst[i]
            untested[have.device] = f"rail {i}: no HCA {i} at the other end"
            continue
        a, b = src[i], dst[i]
        if a.state != "Active" or b.state != "Active":
            untested[a.device] = f"rail {i}: {a.device} {a.state}, {b.device} {b.state}"
            continue
        tested.append(RailPair(a, b))
    return tested, untested


def floor_basis(settings: Settings) -> str:
    rate = f"{settings.rate_gbps:g} Gb/s" if settings.rate_gbps else "the slower port's rate"
    ways = " x 2 directions" if settings.bidirectional else ""
    return f"{settings.fraction:g} x {rate}{ways}"


def _options(rail: Rail, settings: Settings) -> list[str]:
    argv = ["-d", rail.device, "-i", str(rail.port), "-p", str(rail.tcp_port),
            "-D", str(settings.seconds), "-F", "--report_gbits"]
    if settings.bidirectional:
        argv.append("-b")
    if rail.cuda is not None:
        argv.append(f"--use_cuda={rail.cuda}")
    return argv


def server_argv(rail: Rail, settings: Settings) -> list[str]:
    return [TOOL, *_options(rail, settings)]


def client_argv(rail: Rail, settings: Settings, address: str) -> list[str]:
    return [TOOL, *_options(rail, settings), address]


def rail_gbps(answer: Mapping[str, Any]) -> float:
    """Gbit/s from one client's run (runmany's answer); ValueError saying why not."""
    if answer.get("timed_out"):
        raise ValueError("ib_write_bw timed out")
    stdout, stderr = str(answer.get("stdout") or ""), str(answer.get("stderr") or "")
    if answer.get("rc") != 0:
        raise ValueError(_last(stderr) or _last(stdout) or f"exit {answer.get('rc')}")
    record = perftest.parse(stdout)
    if not record.rows:
        raise ValueError(record.error or "ib_write_bw printed no result row")
    return record.rows[-1].bw_avg_gbps


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
