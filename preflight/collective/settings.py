"""What the collective probes are asked to do: launcher, sizes, deadlines, floor."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

LAUNCHERS = ("ssh", "srun", "mpirun")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.I)


@dataclass(frozen=True)
class LaunchSettings:
    kind: str = "ssh"  # ssh | srun | mpirun
    mpirun_args: tuple[str, ...] = ()  # extra flags, after ours
    srun_args: tuple[str, ...] = ()
    ssh_config: str | None = None  # preflight's own, so mpirun's ssh sees the same nodes
    known_hosts: str | None = None


def launch_settings_from(options: Any) -> LaunchSettings:
    """The launcher flags (--launcher, --mpirun-args, --srun-args, the SSH files), read
    once for every probe that launches across nodes: torch, readiness, nccl-tests."""
    return LaunchSettings(
        kind=getattr(options, "launcher", None) or "ssh",
        mpirun_args=tuple(shlex.split(getattr(options, "mpirun_args", None) or "")),
        srun_args=tuple(shlex.split(getattr(options, "srun_args", None) or "")),
        ssh_config=getattr(options, "ssh_config", None),
        known_hosts=getattr(options, "known_hosts", None))


@dataclass(frozen=True)
class TorchSettings:
    launch: LaunchSettings = field(default_factory=LaunchSettings)
    master_port: int = 29500
    sizes: tuple[int, ...] = tuple(1 << s for s in range(10, 23, 2))  # 1 KiB .. 4 MiB
    iters: int = 5
    warmup: int = 2
    step_timeout_s: float = 30.0  # rendezvous, barrier, correctness, each sweep size
    import_timeout_s: float = 90.0  # `import torch` from a cold shared filesystem is slow
    busbw_floor_gbps: float | None = None

    def deadlines(self) -> dict[str, float]:
        return {"import": self.import_timeout_s, "rendezvous": self.step_timeout_s,
                "step": self.step_timeout_s}

    def total_deadline_s(self) -> float:
        """The longest a healthy-but-slow run may take: every step at its deadline."""
        steps = 2 + 3 + len(self.sizes)  # store + init, barrier + correctness + done, sweep
        return self.import_timeout_s + self.step_timeout_s * steps + 15.0


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (e.g. 1K, 4M, 65536)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parse_sizes(text: str) -> tuple[int, ...]:
    """'1K-4M' (every 4x, as the default sweep) or a list '1K,64K,4M'."""
    if "-" in text:
        low, _, high = text.partition("-")
        first, last = parse_size(low), parse_size(high)
        if first <= 0 or last < first:
            raise ValueError(f"{text!r}: expected LOW-HIGH with 0 < LOW <= HIGH")
        sizes = [first]
        while sizes[-1] * 4 <= last:
            sizes.append(sizes[-1] * 4)
        return tuple(sizes)
    listed = tuple(parse_size(part) for part in text.split(",") if part.strip())
    if not listed or min(listed) <= 0:
        raise ValueError(f"{text!r}: expected sizes such as 1K,64K,4M")
    return listed


def size_label(size: int) -> str:
    for unit in ("G", "M", "K"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]} {unit}iB"
    return f"{size} B"
