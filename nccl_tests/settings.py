"""How nccl-tests run: opted in or not, where the binaries are, which collectives, how long.

Each setting comes from its command-line flag when given, else from the expectations
(preflight.toml `[expect]` keys of the same name, once config.py declares them), else
the default here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from preflight.collective.settings import LaunchSettings, launch_settings_from

BINARIES = {
    "all_reduce": "all_reduce_perf",
    "all_gather": "all_gather_perf",
    "reduce_scatter": "reduce_scatter_perf",
    "alltoall": "alltoall_perf",
}
LAUNCHERS = ("mpirun", "srun")
DEFAULT_MAX_BYTES = "8G"  # large enough for the >= 1 GiB busbw plateau the floors are for
DEFAULT_TIMEOUT_S = 300.0  # one sweep from 8 B to 8 GiB, NCCL init included


@dataclass(frozen=True)
class NcclTestsSettings:
    enabled: bool = False
    home: str | None = None  # NCCL_TESTS_HOME given to preflight (else the node's own)
    collectives: tuple[str, ...] = ("all_reduce",)
    max_bytes: str = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S
    launcher: str = "mpirun"
    # --mpirun-args, --srun-args and the SSH files, as the torch probe gets them
    launch: LaunchSettings = field(default_factory=LaunchSettings)

    @property
    def binaries(self) -> list[str]:
        return [BINARIES[c] for c in self.collectives]

    @property
    def per_op_timeout_s(self) -> int:
        """nccl-tests' own -T: one timed loop may take at most this long."""
        return max(5, int(self.timeout_s // 2))

    def to_dict(self) -> dict[str, Any]:
        return {"home": self.home, "collectives": list(self.collectives),
                "max_bytes": self.max_bytes, "timeout_s": self.timeout_s,
                "launcher": self.launcher}


def parse_collectives(value: str | Sequence[str]) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else list(value)
    cleaned = [n.strip().removesuffix("_perf") for n in names if n.strip()]
    unknown = [n for n in cleaned if n not in BINARIES]
    if unknown:
        raise ValueError(f"unknown collective(s) {', '.join(unknown)}; "
                         f"known: {', '.join(BINARIES)}")
    return tuple(dict.fromkeys(cleaned)) or ("all_reduce",)


def from_options(options: Any, expect: Any) -> NcclTestsSettings:
    """Flags (None = not given) over expectations over defaults."""

    def pick(flag: str, key: str, default: Any) -> Any:
        value = getattr(options, flag, None)
        if value is None:
            value = getattr(expect, key, None)
        return default if value is None else value

    return NcclTestsSettings(
        enabled=bool(getattr(options, "nccl_tests", False) or getattr(expect, "nccl_tests", False)),
        home=pick("nccl_tests_home", "nccl_tests_home", None),
        collectives=parse_collectives(pick("nccl_tests_collectives", "nccl_tests_collectives",
                                           ("all_reduce",))),
        max_bytes=str(pick("nccl_tests_max_bytes", "nccl_tests_max_bytes", DEFAULT_MAX_BYTES)),
        timeout_s=float(pick("nccl_tests_timeout", "nccl_tests_timeout_s", DEFAULT_TIMEOUT_S)),
        launcher=_launcher(options),
        launch=launch_settings_from(options),
    )


def _launcher(options: Any) -> str:
    """--nccl-tests-launcher, else the collective probes' --launcher when it names one of
    ours, else srun inside a Slurm allocation, else mpirun."""
    for flag in ("nccl_tests_launcher", "launcher"):
        value = getattr(options, flag, None)
        if value in LAUNCHERS:
            return str(value)
    if getattr(options, "slurm", False) or getattr(options, "gather_via", "") == "srun":
        return "srun"
    return "mpirun"
